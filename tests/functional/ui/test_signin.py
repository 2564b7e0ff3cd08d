"""Signing in and out: email and password, rate limited like /token; session cookies."""

from __future__ import annotations

import re

import httpx
import pytest

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
