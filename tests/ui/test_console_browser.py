"""The console in a real browser: creating a token lands on a page loaded with GET, so
reloading it shows the secret no more and makes no second token."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.ui.conftest import OWNER, Server, sign_in
from tests.ui.test_browser import create_token


def test_reloading_after_creating_a_token_makes_no_second_one(
    server: Server, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    sign_in(page, server, OWNER)
    secret = create_token(page, server, "reloaded", "read:package")
    expect(page).to_have_url(f"{server.url}/settings/tokens")  # no secret in the address
    page.reload()
    expect(page.locator("#new-token")).to_have_count(0)  # the secret was shown once
    rows = page.locator("table.tokens tbody tr", has_text="reloaded")
    expect(rows).to_have_count(1)
    token_id = secret.split("_")[1]
    expect(rows).to_contain_text(f"chp_{token_id}_…")
