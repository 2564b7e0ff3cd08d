"""Post/redirect/get: a form that changes something answers with a redirect, so reloading
the page it lands on does nothing twice. A new token's secret reaches that page in a
one-time flash (never in the address), and tokens show the public prefix of their id."""

from __future__ import annotations

import re

from cargohold.web.ui import session_cookie
from tests.functional.ui.conftest import Ui

SECRET = re.compile(r"chp_[a-z0-9]{12}_[A-Za-z0-9_-]{43}")
FORM = {"name": "laptop", "scope": "read:package", "expires": "30d"}


async def test_creating_a_token_answers_with_a_redirect_without_the_secret(ui: Ui) -> None:
    owner = await ui.as_("owner")
    created = await owner.post("/settings/tokens", FORM)
    assert created.status_code == 303
    assert created.headers["location"] == "/settings/tokens"
    assert not SECRET.search(created.text)


async def test_the_page_after_creating_a_token_shows_its_secret(ui: Ui) -> None:
    owner = await ui.as_("owner")
    shown = await owner.follow(await owner.post("/settings/tokens", FORM))
    assert shown.status_code == 200
    assert SECRET.search(shown.text)
    assert "Token laptop created" in shown.text


async def test_reloading_after_creating_a_token_makes_no_second_token(ui: Ui) -> None:
    owner = await ui.as_("owner")
    await owner.follow(await owner.post("/settings/tokens", FORM))
    reloaded = await owner.get("/settings/tokens")
    assert reloaded.status_code == 200
    rows = await ui.api.rows("SELECT id FROM tokens WHERE name = 'laptop'")
    assert len(rows) == 1


async def test_the_secret_is_shown_once_then_its_flash_is_deleted(ui: Ui) -> None:
    owner = await ui.as_("owner")
    shown = await owner.follow(await owner.post("/settings/tokens", FORM))
    deleted = shown.headers.get_list("set-cookie")
    assert any(c.startswith("cargohold_new_token=") and "Max-Age=0" in c for c in deleted)
    assert not SECRET.search((await owner.get("/settings/tokens")).text)


async def test_a_flash_of_another_session_shows_nothing(ui: Ui) -> None:
    owner = await ui.as_("owner")
    created = await owner.post("/settings/tokens", FORM)
    flash = created.cookies["cargohold_new_token"]
    other = await ui.as_("owner")  # the same person in another browser
    cookies = f"{session_cookie.COOKIE}={other.cookie}; cargohold_new_token={flash}"
    page = await other.get("/settings/tokens", headers={"cookie": cookies})
    assert page.status_code == 200
    assert not SECRET.search(page.text)


async def test_tokens_show_the_public_prefix_of_their_id(ui: Ui) -> None:
    owner = await ui.as_("owner")
    for _ in range(2):
        await owner.post("/settings/tokens", FORM)
    page = await owner.get("/settings/tokens")
    rows = await ui.api.rows("SELECT id FROM tokens WHERE name = 'laptop' ORDER BY id")
    assert len(rows) == 2
    for row in rows:
        assert f"chp_{row['id']}_…" in page.text


async def test_creating_a_package_redirects_to_how_to_push_to_it(ui: Ui) -> None:
    admin = await ui.as_("admin")
    created = await admin.post("/new-package", {"repository": "acme/web", "name": "web/worker"})
    assert created.status_code == 303
    assert created.headers["location"] == "/p/acme/web/worker/-/created"
    reloaded = await admin.get(created.headers["location"])
    assert reloaded.status_code == 200
    assert "docker push registry.test/acme/web/worker:latest" in reloaded.text
