"""Who may call the API: API tokens (Bearer, or Basic with the email), nobody else."""

from __future__ import annotations

import base64

import pytest

from tests.functional.api.people import Api, assert_problem, email


def basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


async def test_no_credentials_is_401_with_a_challenge(api: Api) -> None:
    response = await api.get("/workspaces")
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer realm=")


async def test_bearer_api_token_authenticates(api: Api) -> None:
    response = await api.get("/user", "owner")
    assert response.status_code == 200
    assert response.json() == {
        "email": email("owner"),
        "display_name": "owner",
        "site_admin": False,
        "token_scopes": ["admin:package"],
    }


async def test_basic_email_and_token_authenticates(api: Api) -> None:
    headers = basic(email("reader"), await api.token("reader"))
    response = await api.get("/user", headers=headers)
    assert response.status_code == 200
    assert response.json()["email"] == email("reader")


async def test_basic_with_another_persons_email_is_401(api: Api) -> None:
    headers = basic(email("owner"), await api.token("reader"))
    assert_problem(await api.get("/user", headers=headers), 401)


async def test_basic_with_a_password_is_401(api: Api) -> None:
    body = assert_problem(await api.get("/user", headers=basic(email("owner"), "hunter22")), 401)
    assert "not a password" in body["detail"]


@pytest.mark.parametrize(
    "value", [b"Basic \xff\xfe", "Basic é".encode(), b"Basic " + base64.b64encode(b"\xff:\xfe")]
)
async def test_basic_that_is_not_ascii_base64_of_utf8_is_401(api: Api, value: bytes) -> None:
    response = await api.get("/user", headers={"Authorization": value})
    assert "malformed Basic credentials" in assert_problem(response, 401)["detail"]


async def test_unknown_token_is_401_invalid_token(api: Api) -> None:
    response = await api.get("/user", headers={"Authorization": "Bearer chp_nope"})
    assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_unsupported_scheme_is_401(api: Api) -> None:
    assert_problem(await api.get("/user", headers={"Authorization": "Digest x"}), 401)


async def test_revoked_token_is_refused_at_once(api: Api) -> None:
    token = await api.token("owner")
    token_id = token.split("_")[1]
    assert (await api.get("/workspaces", "owner")).status_code == 200
    assert (await api.delete(f"/user/tokens/{token_id}", "owner")).status_code == 204
    assert_problem(await api.get("/workspaces", "owner"), 401)


async def test_expired_token_is_refused(api: Api) -> None:
    token = await api.token("owner")
    await api.context.db.execute(
        "UPDATE tokens SET expires_at = :t WHERE id = :id",
        {"t": api.context.now() - 1, "id": token.split("_")[1]},
    )
    assert_problem(await api.get("/workspaces", "owner"), 401)


@pytest.mark.settings(login_max_failures=2, login_address_max_attempts=2)
async def test_wrong_basic_tokens_are_refused_401_and_never_block_the_right_one(api: Api) -> None:
    wrong = basic(email("owner"), "chp_aaaaaaaaaaaa_" + "a" * 43)
    for _ in range(4):  # beyond every login limit: a token is no password guess
        assert_problem(await api.get("/user", headers=wrong), 401)
    right = basic(email("owner"), await api.token("owner"))
    assert (await api.get("/user", headers=right)).status_code == 200


async def test_access_tokens_may_not_manage_accounts(api: Api) -> None:
    headers = {"Authorization": f"Bearer {await api.access_token('acme', 'admin:package')}"}
    body = assert_problem(await api.get("/workspaces", headers=headers), 403)
    assert "personal API token" in body["detail"]
    response = await api.post("/workspaces/acme/projects", headers=headers, json={"key": "NEW"})
    assert_problem(response, 403)


async def test_anonymous_may_read_public_packages_only(api: Api) -> None:
    assert (await api.get("/packages/acme/site/www")).status_code == 200
    assert_problem(await api.get("/packages/acme/web/api"), 404)


@pytest.mark.settings(auth="none")
async def test_the_api_authenticates_even_in_development_mode(api: Api) -> None:
    assert_problem(await api.get("/workspaces"), 401)
    assert (await api.get("/workspaces", "owner")).status_code == 200
