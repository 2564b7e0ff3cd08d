"""Single sign-on: people sign in to the web UI through an OpenID provider (authorization
code with PKCE), linked to their account by a verified email address only.

The provider is the test issuer (tests/oidc/issuer.py) on 127.0.0.1, which signs in the
person the test names at once; the browser test (tests/ui/test_sso_browser.py) goes
through a real provider's login page."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cargohold.config import Settings
from cargohold.services.accounts import directory
from cargohold.web.ui import i18n
from tests.functional.api.people import email
from tests.functional.conftest import marked_settings
from tests.functional.ui.conftest import PASSWORD, Ui, set_password
from tests.functional.ui.test_messages import assert_no_english
from tests.oidc.issuer import Issuer, Person


@pytest.fixture
def settings(
    request: pytest.FixtureRequest, fresh_settings: Callable[..., Settings], issuer: Issuer
) -> Settings:
    return marked_settings(
        request,
        fresh_settings,
        auth="token",
        public_url="http://registry.test",
        sso_issuer=issuer.url,
        sso_client_id=issuer.client_id,
        sso_client_secret=issuer.client_secret,
        oidc_allow_http_issuers=True,
        oidc_allowed_networks=["127.0.0.1/32"],
    )


def person(who: str, *, verified: bool | None = True, subject: str | None = None) -> Person:
    return Person(subject=subject or f"idp-{who}", email=email(who), email_verified=verified)


async def sso(
    ui: Ui, issuer: Issuer, who: Person, next: str = "/w/acme", language: str | None = None
) -> httpx.Response:
    """Sign in through the provider: start, let the provider answer, come back (in
    `language`, when given). Returns the answer to the callback."""
    client = ui.api.client
    client.cookies.clear()
    if language:
        client.cookies.set(i18n.COOKIE, language)
    issuer.person = who
    started = await client.get("/sign-in/sso", params={"next": next})
    assert started.status_code == 303, started.text
    at_provider = httpx.get(started.headers["location"], timeout=10)
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["location"])
    assert f"{back.scheme}://{back.netloc}" == "http://registry.test"
    return await client.get(f"{back.path}?{back.query}")


async def signed_in_as(ui: Ui) -> str | None:
    page = await ui.api.client.get("/")
    return (
        page.text.split('<span class="who">', 1)[1].split("<", 1)[0] if "who" in page.text else None
    )


async def test_the_sign_in_page_offers_single_sign_on(ui: Ui) -> None:
    page = await ui.api.client.get("/sign-in?next=/w/acme")
    assert 'href="/sign-in/sso?next=/w/acme"' in page.text
    assert "Sign in with single sign-on" in page.text


@pytest.mark.settings(sso_name="Okta")
async def test_the_button_names_the_provider(ui: Ui) -> None:
    assert "Sign in with Okta" in (await ui.api.client.get("/sign-in")).text


async def test_the_provider_is_asked_for_a_code_with_pkce_and_a_nonce(
    ui: Ui, issuer: Issuer
) -> None:
    started = await ui.api.client.get("/sign-in/sso")
    query = {k: v[0] for k, v in parse_qs(urlsplit(started.headers["location"]).query).items()}
    assert started.headers["location"].startswith(f"{issuer.url}/authorize?")
    assert query["response_type"] == "code"
    assert query["client_id"] == issuer.client_id
    assert query["redirect_uri"] == "http://registry.test/sign-in/sso/callback"
    assert query["scope"] == "openid email profile"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43 and len(query["nonce"]) >= 32
    cookie = started.headers["set-cookie"].lower()
    assert "path=/sign-in/sso" in cookie and "httponly" in cookie and "samesite=lax" in cookie


async def test_a_verified_email_signs_in_to_its_account(ui: Ui, issuer: Issuer) -> None:
    back = await sso(ui, issuer, person("owner"))
    assert (back.status_code, back.headers["location"]) == (303, "/w/acme"), back.text
    page = await ui.api.client.get("/w/acme")
    assert page.status_code == 200 and "acme/web/api" in page.text


async def test_the_provider_identity_stays_linked_when_its_email_changes(
    ui: Ui, issuer: Issuer
) -> None:
    assert (await sso(ui, issuer, person("owner"))).status_code == 303
    changed = Person(subject="idp-owner", email="owner@elsewhere.example", email_verified=False)
    back = await sso(ui, issuer, changed)
    assert back.status_code == 303, back.text
    assert await signed_in_as(ui) == "owner"


async def test_an_unverified_email_is_refused(ui: Ui, issuer: Issuer) -> None:
    back = await sso(ui, issuer, person("owner", verified=False))
    assert back.status_code == 403
    assert "has not verified your email address" in back.text
    assert await signed_in_as(ui) is None


async def test_an_email_without_an_account_is_refused(ui: Ui, issuer: Issuer) -> None:
    back = await sso(ui, issuer, person("newcomer"))
    assert back.status_code == 403
    assert "There is no account for your email address" in back.text
    assert "cargohold user create newcomer@example.com" in back.text


@pytest.mark.settings(sso_create_accounts=True)
async def test_an_account_is_made_at_first_sign_in_where_the_setting_allows(
    ui: Ui, issuer: Issuer
) -> None:
    back = await sso(ui, issuer, person("newcomer"))
    assert back.status_code == 303, back.text
    user = await directory.find_user(ui.api.context.db, email("newcomer"))
    assert not user.is_admin
    assert await signed_in_as(ui) == "newcomer"


@pytest.mark.settings(sso_create_accounts=True)
async def test_no_account_is_made_for_an_unverified_email(ui: Ui, issuer: Issuer) -> None:
    assert (await sso(ui, issuer, person("newcomer", verified=None))).status_code == 403
    rows = await ui.api.rows("SELECT id FROM users WHERE email = :e", e=email("newcomer"))
    assert rows == []


@pytest.mark.settings(sso_allowed_domains=["acme.example"])
async def test_an_email_outside_the_allowed_domains_is_refused(ui: Ui, issuer: Issuer) -> None:
    back = await sso(ui, issuer, person("owner"))
    assert back.status_code == 403
    assert "Your email address may not sign in here" in back.text


async def test_the_email_comes_from_userinfo_when_the_id_token_has_none(
    ui: Ui, issuer: Issuer
) -> None:
    who = Person("idp-reader", email("reader"), email_verified=True, claims_in_id_token=False)
    assert (await sso(ui, issuer, who)).status_code == 303
    assert await signed_in_as(ui) == "reader"


async def test_a_callback_with_another_state_is_refused(ui: Ui, issuer: Issuer) -> None:
    client = ui.api.client
    issuer.person = person("owner")
    started = await client.get("/sign-in/sso")
    at_provider = httpx.get(started.headers["location"], timeout=10)
    back = urlsplit(at_provider.headers["location"])
    code = parse_qs(back.query)["code"][0]
    answer = await client.get("/sign-in/sso/callback", params={"code": code, "state": "forged"})
    assert answer.status_code == 400
    assert "began in another browser" in answer.text
    assert await signed_in_as(ui) is None


async def test_a_callback_without_the_sign_in_cookie_is_refused(ui: Ui, issuer: Issuer) -> None:
    issuer.person = person("owner")
    started = await ui.api.client.get("/sign-in/sso")
    at_provider = httpx.get(started.headers["location"], timeout=10)
    back = urlsplit(at_provider.headers["location"])
    ui.api.client.cookies.clear()
    answer = await ui.api.client.get(f"{back.path}?{back.query}")
    assert answer.status_code == 400
    assert await signed_in_as(ui) is None


async def test_a_provider_error_is_shown(ui: Ui) -> None:
    await ui.api.client.get("/sign-in/sso")
    answer = await ui.api.client.get(
        "/sign-in/sso/callback",
        params={"error": "invalid_scope", "error_description": "the scope profile is off"},
    )
    assert answer.status_code == 401
    assert "did not sign you in" in answer.text
    assert '<p class="detail" lang="en">the scope profile is off</p>' in answer.text
    await ui.api.client.get("/sign-in/sso")
    answer = await ui.api.client.get(
        "/sign-in/sso/callback",
        params={"error": "access_denied", "error_description": "the user said no"},
    )
    assert answer.status_code == 401
    assert "You, or the provider, declined the sign-in." in answer.text


async def test_sso_refusals_on_japanese_pages_have_no_english_left(ui: Ui, issuer: Issuer) -> None:
    refusals = {
        "unverified": person("owner", verified=False),
        "no account": person("newcomer"),
        "no email": Person("idp-anonymous", None),
    }
    for what, who in refusals.items():
        back = await sso(ui, issuer, who, language="ja")
        assert back.status_code == 403, (what, back.status_code)
        assert_no_english(back, what)
    ui.api.client.cookies.set(i18n.COOKIE, "ja")
    await ui.api.client.get("/sign-in/sso")
    answer = await ui.api.client.get("/sign-in/sso/callback", params={"error": "access_denied"})
    assert answer.status_code == 401
    assert_no_english(answer, "access_denied")
    issuer.client_secret = "another secret"  # the token endpoint refuses the registry
    back = await sso(ui, issuer, person("owner"), language="ja")
    assert back.status_code == 403, back.status_code
    assert_no_english(back, "token endpoint")
    assert "トークンエンドポイントが HTTP 401" in back.text and "invalid_client" in back.text
    issuer.discovery_issuer = "https://elsewhere.example.com"  # discovery names another
    ui.api.context.federation.providers.forget()
    # a client of its own: the shared one fails the test on any 5xx
    async with httpx.AsyncClient(transport=ui.api.transport, base_url=ui.api.client.base_url) as c:
        started = await c.get("/sign-in/sso", headers={"cookie": f"{i18n.COOKIE}=ja"})
    assert started.status_code == 502, started.status_code
    assert_no_english(started, "discovery")
    assert "別の発行者" in started.text


@pytest.mark.settings(sso_allowed_domains=["acme.example"])
async def test_an_email_outside_the_allowed_domains_is_refused_in_japanese(
    ui: Ui, issuer: Issuer
) -> None:
    for who in (person("owner"), Person("idp-anonymous", None)):
        back = await sso(ui, issuer, who, language="ja")
        assert back.status_code == 403
        assert_no_english(back, f"domain {who.email}")


@pytest.mark.settings(password_login=False)
async def test_with_password_sign_in_off_the_form_is_gone_and_passwords_are_refused(
    ui: Ui,
) -> None:
    await set_password(ui, "owner")
    page = await ui.api.client.get("/sign-in")
    assert 'name="password"' not in page.text
    assert "Sign in with single sign-on" in page.text
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    refused = await ui.api.client.post(
        "/sign-in", data={"email": email("owner"), "password": PASSWORD, "csrf": csrf}
    )
    assert refused.status_code == 401
    assert "Password sign-in is off" in refused.text


@pytest.mark.settings(password_login=False)
async def test_with_password_sign_in_off_single_sign_on_sessions_hold(
    ui: Ui, issuer: Issuer
) -> None:
    assert (await sso(ui, issuer, person("owner"))).status_code == 303
    assert await signed_in_as(ui) == "owner"
    assert (await ui.api.client.get("/settings/tokens")).status_code == 200


async def test_people_signed_in_with_single_sign_on_create_api_tokens(
    ui: Ui, issuer: Issuer
) -> None:
    assert (await sso(ui, issuer, person("reader"))).status_code == 303
    client = ui.api.client
    page = await client.get("/settings/tokens")
    assert "Single sign-on" in page.text  # how the session was signed in
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    created = await client.post(
        "/settings/tokens",
        data={"name": "laptop", "scope": "read:package", "expires": "7d", "csrf": csrf},
    )
    assert created.status_code == 303, created.text
    assert "chp_" in (await client.get(created.headers["location"])).text


async def test_without_single_sign_on_set_up_its_routes_are_not_found(
    request: pytest.FixtureRequest, fresh_settings: Callable[..., Settings]
) -> None:
    from tests.functional.api.people import world

    async with world(marked_settings(request, fresh_settings, auth="token")) as api:
        assert (await api.client.get("/sign-in/sso")).status_code == 404
        assert "single sign-on" not in (await api.client.get("/sign-in")).text


async def test_an_invited_person_signs_in_with_single_sign_on_instead_of_a_password(
    ui: Ui, issuer: Issuer
) -> None:
    admin = await ui.as_("site_admin")
    invited = await admin.post(
        "/admin/people", {"action": "invite", "email": email("newbie"), "name": "Newbie"}
    )
    assert invited.status_code == 303
    shown = await admin.follow(invited)
    assert "They may also sign in with single sign-on instead" in shown.text
    code = shown.text.split("/invitation?code=", 1)[1].split("<", 1)[0]
    page = await (await ui.as_(None)).get(f"/invitation?code={code}")
    assert 'href="/sign-in/sso"' in page.text
    back = await sso(ui, issuer, person("newbie"), next="/")
    assert (back.status_code, back.headers["location"]) == (303, "/"), back.text
    assert await signed_in_as(ui) == "Newbie"
