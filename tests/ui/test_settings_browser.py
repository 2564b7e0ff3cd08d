"""A package's settings in a real browser: the retention preview replaces just its part of
the page (htmx), shows a refusal in the same place, and saving loads the page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.interop._support import ContainersConfig
from tests.ui.conftest import OWNER, Server, screenshot, sign_in
from tests.ui.test_browser import create_token, push_multi_arch


def test_retention_preview_without_a_page_load(
    server: Server, containers: ContainersConfig, new_page: Callable[..., Page], tmp_path: Path
) -> None:
    server.cli("package", "create", "acme/web/kept", "--repo", "web")
    page = new_page()
    sign_in(page, server, OWNER)
    secret = create_token(page, server, "settings", "write:package")
    for tag in ("v1", "v2"):
        push_multi_arch(server, containers, tmp_path / tag, f"acme/web/kept:{tag}", secret)

    page.goto(f"{server.url}/p/acme/web/kept")
    page.get_by_role("link", name="Package settings").click()
    expect(page.locator("h1")).to_have_text("Package settings")
    page.evaluate("window.notReloaded = true")

    page.fill("#keep_newest", "1")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview table.plan-tags tbody tr")).to_have_count(1)
    expect(page.locator("#preview")).to_contain_text("Tags kept")
    assert page.evaluate("window.notReloaded") is True
    page.locator("#keep_pattern").scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, 150)")
    screenshot(page, "package-settings")

    page.fill("#keep_pattern", "v[1]")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview .error")).to_contain_text("'v[1]'")
    assert page.evaluate("window.notReloaded") is True

    page.fill("#keep_pattern", "")
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator(".notice")).to_contain_text("The retention policy is saved.")
    expect(page.locator("#keep_newest")).to_have_value("1")
