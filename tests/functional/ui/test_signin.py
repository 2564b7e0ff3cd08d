"""Signing in and out: email and password, rate limited like /token; session cookies."""

from __future__ import annotations

import re

import httpx
import pytest

from cargohold.config import Settings
from cargohold.services.accounts import directory
from cargohold.web.app import create_app
from tests.functional.api.people import email
from tests.functional.ui.conftest import PASSWORD, Ui, set_password


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found[1]


def session_cookie(response: httpx.Response) -> str:
    header = next(v for k, v in response.headers.multi_items() if k == "set-cookie")
    return header


async def sign_in(ui: Ui, who: str, password: str = PASSWORD) -> httpx.Response:
    client = ui.api.client
    client.cookies.clear()
    form = await client.get("/sign-in")
    assert form.status_code == 200
    return await client.post(
        "/sign-in",
        data={"email": email(who), "password": password, "csrf": csrf_of(form), "next": "/w/acme"},
    )


async def test_sign_in_with_password_sets_a_secure_session_cookie(ui: Ui) -> None:
    await set_password(ui, "owner")
    response = await sign_in(ui, "owner")
    assert response.status_code == 303
    assert response.headers["location"] == "/w/acme"
    cookie = session_cookie(response).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    page = await ui.api.client.get("/w/acme")
    assert page.status_code == 200
    assert "acme/web/api" in page.text


async def test_session_cookie_is_secure_over_tls(ui: Ui) -> None:
    client = httpx.AsyncClient(transport=ui.api.transport, base_url="https://registry.test")
    async with client:
        page = await client.get("/sign-in")
        assert "secure" in session_cookie(page).lower()


async def test_wrong_password_is_refused(ui: Ui) -> None:
    await set_password(ui, "owner")
    response = await sign_in(ui, "owner", "not the password")
    assert response.status_code == 401
    assert "Wrong email address or password." in response.text
    assert (await ui.api.client.get("/w/acme/members")).status_code == 303


async def test_a_token_is_not_a_password_here(ui: Ui) -> None:
    response = await sign_in(ui, "owner", await ui.api.token("owner"))
    assert response.status_code == 401


@pytest.mark.settings(login_max_failures=3)
async def test_the_nth_failure_is_refused_401_and_the_next_sign_in_429(ui: Ui) -> None:
    await set_password(ui, "owner")
    statuses = [(await sign_in(ui, "owner", "wrong password")).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    blocked = await sign_in(ui, "owner")  # even the right password, while blocked
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0


@pytest.mark.settings(login_max_failures=3)
async def test_failures_from_another_address_do_not_block_sign_in(ui: Ui) -> None:
    await set_password(ui, "owner")
    assert isinstance(ui.api.transport, httpx.ASGITransport)
    elsewhere = httpx.ASGITransport(app=ui.api.transport.app, client=("203.0.113.5", 1))
    async with httpx.AsyncClient(transport=elsewhere, base_url="http://registry.test") as other:
        form = await other.get("/sign-in")
        for _ in range(4):
            response = await other.post(
                "/sign-in",
                data={"email": email("owner"), "password": "wrong", "csrf": csrf_of(form)},
            )
        assert response.status_code == 429
    assert (await sign_in(ui, "owner")).status_code == 303


async def test_sign_in_without_csrf_token_is_refused(ui: Ui) -> None:
    await set_password(ui, "owner")
    client = ui.api.client
    await client.get("/sign-in")
    response = await client.post("/sign-in", data={"email": email("owner"), "password": PASSWORD})
    assert response.status_code == 403


async def test_sign_out_ends_the_session(ui: Ui) -> None:
    await set_password(ui, "owner")
    await sign_in(ui, "owner")
    client = ui.api.client
    page = await client.get("/w/acme")
    response = await client.post("/sign-out", data={"csrf": csrf_of(page)})
    assert response.status_code == 303
    assert (await client.get("/settings/tokens")).status_code == 303


def cookie_value(response: httpx.Response) -> str:
    found = re.search(r"cargohold_session=([^;]+)", session_cookie(response))
    assert found
    return found[1]


async def signed_in_cookie(ui: Ui, who: str = "owner") -> str:
    response = await sign_in(ui, who)
    assert response.status_code == 303
    return cookie_value(response)


async def status_with(
    client: httpx.AsyncClient, cookie: str, path: str = "/settings/tokens"
) -> int:
    """What a browser holding `cookie` gets: 200 while it is signed in, 303 to sign in."""
    client.cookies.clear()
    return (await client.get(path, headers={"cookie": f"cargohold_session={cookie}"})).status_code


async def test_sign_out_makes_the_old_cookie_worthless(ui: Ui) -> None:
    """Someone who copied the cookie before sign-out (a shared computer, a stolen cookie)
    is signed out too: the session ends on the server."""
    await set_password(ui, "owner")
    cookie = await signed_in_cookie(ui)
    client = ui.api.client
    page = await client.get("/w/acme")
    assert (await client.post("/sign-out", data={"csrf": csrf_of(page)})).status_code == 303
    assert await status_with(client, cookie) == 303
    assert await ui.api.rows("SELECT id FROM sessions") == []


async def docker_login(ui: Ui, who: str = "owner") -> str:
    """`docker login` with a password: a refresh token (offline_token) from /token."""
    response = await ui.api.client.post(
        "/token",
        data={"grant_type": "password", "username": email(who), "password": PASSWORD,
              "access_type": "offline", "client_id": "docker", "service": "cargohold"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    refresh: str = response.json()["refresh_token"]
    return refresh


async def refreshes(ui: Ui, refresh: str) -> bool:
    response = await ui.api.client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh, "service": "cargohold"},
    )
    return response.status_code == 200


async def test_signing_out_leaves_the_persons_other_sessions_and_docker_logins(ui: Ui) -> None:
    await set_password(ui, "owner")
    other_browser = await signed_in_cookie(ui)
    refresh = await docker_login(ui)
    await signed_in_cookie(ui)
    client = ui.api.client
    page = await client.get("/w/acme")
    assert (await client.post("/sign-out", data={"csrf": csrf_of(page)})).status_code == 303
    assert await refreshes(ui, refresh)
    assert await status_with(client, other_browser) == 200


async def test_signing_out_everywhere_ends_every_session_and_docker_login_of_the_person(
    ui: Ui,
) -> None:
    await set_password(ui, "owner")
    await set_password(ui, "reader")
    other_browser = await signed_in_cookie(ui)
    refresh = await docker_login(ui)
    someone_else = await docker_login(ui, "reader")
    here = await signed_in_cookie(ui)
    client = ui.api.client
    client.cookies.clear()
    headers = {"cookie": f"cargohold_session={here}"}
    page = await client.get("/settings/tokens", headers=headers)
    assert "everywhere" in page.text
    signed_out = await client.post(
        "/sign-out", data={"csrf": csrf_of(page), "everywhere": "1"}, headers=headers
    )
    assert signed_out.status_code == 303
    assert not await refreshes(ui, refresh)
    assert [await status_with(client, c) for c in (other_browser, here)] == [303, 303]
    assert await refreshes(ui, someone_else), "another person's docker login is theirs"


async def test_a_session_is_a_row_holding_only_a_hash_of_its_secret(ui: Ui) -> None:
    await set_password(ui, "owner")
    cookie = await signed_in_cookie(ui)
    rows = await ui.api.rows("SELECT * FROM sessions")
    assert [(row["kind"], row["user_id"]) for row in rows] == [
        ("web", (await directory.find_user(ui.api.context.db, email("owner"))).id)
    ]
    assert rows[0]["secret_hash"] not in cookie and cookie not in str(rows)


async def test_a_password_change_ends_every_session(ui: Ui) -> None:
    await set_password(ui, "owner")
    first = await signed_in_cookie(ui)
    second = await signed_in_cookie(ui)
    db = ui.api.context.db
    owner = await directory.find_user(db, email("owner"))
    await directory.set_password(db, user=owner, password="another good passphrase")
    assert [await status_with(ui.api.client, c) for c in (first, second)] == [303, 303]


async def test_sessions_are_refused_while_password_login_is_off(ui: Ui) -> None:
    await set_password(ui, "owner")
    cookie = await signed_in_cookie(ui)
    ctx = ui.api.context
    ctx.settings = ctx.settings.model_copy(update={"password_login": False})
    assert await status_with(ui.api.client, cookie) == 303


async def test_a_session_holds_on_every_node_and_ends_on_every_node(
    ui: Ui, settings: Settings
) -> None:
    """Nodes of a cluster share the database and the signing key, and nothing else."""
    await set_password(ui, "owner")
    cookie = await signed_in_cookie(ui)
    other = create_app(settings)
    transport = httpx.ASGITransport(app=other, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as node:
        assert await status_with(node, cookie) == 200
        page = await node.get("/w/acme", headers={"cookie": f"cargohold_session={cookie}"})
        signed_out = await node.post(
            "/sign-out",
            data={"csrf": csrf_of(page)},
            headers={"cookie": f"cargohold_session={cookie}"},
        )
        assert signed_out.status_code == 303
    await other.state.context.close()
    assert await status_with(ui.api.client, cookie) == 303


async def test_next_never_leaves_the_site(ui: Ui) -> None:
    await set_password(ui, "owner")
    client = ui.api.client
    form = await client.get("/sign-in")
    response = await client.post(
        "/sign-in",
        data={
            "email": email("owner"),
            "password": PASSWORD,
            "csrf": csrf_of(form),
            "next": "//evil.example/",
        },
    )
    assert response.headers["location"] == "/"


async def test_pages_carry_a_content_security_policy(ui: Ui) -> None:
    page = await ui.api.client.get("/sign-in")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_the_sign_in_link_brings_a_visitor_back_where_they_were(ui: Ui) -> None:
    await set_password(ui, "reader")
    visitor = ui.anonymous()
    public = await visitor.get("/p/acme/site/www?sort=name")
    assert 'href="/sign-in?next=/p/acme/site/www%3Fsort%3Dname"' in public.text
    private = await visitor.get("/p/acme/web/api")  # a link someone shared: not found yet
    assert private.status_code == 404
    assert 'href="/sign-in?next=/p/acme/web/api"' in private.text
    client = ui.api.client
    client.cookies.clear()
    form = await client.get("/sign-in?next=/p/acme/web/api")
    assert 'name="next" value="/p/acme/web/api"' in form.text
    signed_in = await client.post(
        "/sign-in",
        data={
            "email": email("reader"),
            "password": PASSWORD,
            "csrf": csrf_of(form),
            "next": "/p/acme/web/api",
        },
    )
    assert signed_in.headers["location"] == "/p/acme/web/api"
    assert (await client.get("/p/acme/web/api")).status_code == 200


async def test_a_page_that_needs_a_sign_in_sends_back_to_itself(ui: Ui) -> None:
    response = await ui.anonymous().get("/w/acme/members")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2Fw%2Facme%2Fmembers"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "/\\evil.example/",
        "/\t/evil.example/",
        "/\n/evil.example/",
        "https://evil.example/",
        "evil.example",
        "",
    ],
)
async def test_next_is_a_path_of_this_site_or_home(ui: Ui, target: str) -> None:
    await set_password(ui, "owner")
    client = ui.api.client
    form = await client.get("/sign-in")
    response = await client.post(
        "/sign-in",
        data={"email": email("owner"), "password": PASSWORD, "csrf": csrf_of(form), "next": target},
    )
    assert response.headers["location"] == "/"
