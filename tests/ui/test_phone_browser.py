"""The console on a phone and with JavaScript: at 390 px no page scrolls sideways and lists
are stacked cards; every page has a favicon (no 404); the language switch and the tag sort
apply as soon as they change."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, Response, expect

from tests.interop._support import ContainersConfig
from tests.ui.conftest import OWNER, Server, screenshot, sign_in
from tests.ui.test_browser import create_token, push_multi_arch

PHONE = 390


def _with_tags(
    server: Server, containers: ContainersConfig, page: Page, tmp_path: Path, name: str
) -> None:
    """Package acme/web/NAME with tags build-2, then build-10 (pushed last)."""
    server.cli("package", "create", f"acme/web/{name}", "--repo", "web")
    secret = create_token(page, server, name, "write:package")
    for tag in ("build-2", "build-10"):
        push_multi_arch(server, containers, tmp_path / tag, f"acme/web/{name}:{tag}", secret)


def _fits(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE, f"{page.url} is {width} px wide"


def test_on_a_phone_pages_do_not_scroll_sideways_and_lists_are_cards(
    server: Server, containers: ContainersConfig, new_page: Callable[..., Page], tmp_path: Path
) -> None:
    setup = new_page()
    sign_in(setup, server, OWNER)
    _with_tags(server, containers, setup, tmp_path, "phone")
    page = new_page(width=PHONE, height=800)
    sign_in(page, server, OWNER)
    for path in ("/p/acme/web/phone", "/settings/tokens", "/w/acme"):
        page.goto(f"{server.url}{path}")
        _fits(page)
        row = page.locator("main table tbody tr").first
        assert row.evaluate("row => getComputedStyle(row).display") == "block", path
    page.goto(f"{server.url}/p/acme/web/phone")
    page.locator("table.tags").scroll_into_view_if_needed()
    screenshot(page, "package-phone")


def test_every_page_has_a_favicon_and_none_is_missing(
    server: Server, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    missing: list[str] = []

    def note(response: Response) -> None:
        if response.status == 404:
            missing.append(response.url)

    page.on("response", note)
    sign_in(page, server, OWNER)
    for path in ("/", "/w/acme", "/settings/tokens", "/new-package"):
        page.goto(f"{server.url}{path}")
        expect(page.locator('link[rel="icon"]')).to_have_attribute("href", "/static/favicon.svg")
    icon = page.request.get(f"{server.url}/static/favicon.svg")
    assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert missing == []


def test_the_language_switch_applies_on_change(
    server: Server, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    sign_in(page, server, OWNER)
    page.select_option("#language", "ja")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    page.select_option("#language", "en")
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_the_tag_sort_applies_on_change(
    server: Server, containers: ContainersConfig, new_page: Callable[..., Page], tmp_path: Path
) -> None:
    page = new_page()
    sign_in(page, server, OWNER)
    _with_tags(server, containers, page, tmp_path, "sorted")
    page.goto(f"{server.url}/p/acme/web/sorted")
    links = page.locator("table.tags tbody tr td:first-child a")
    expect(links).to_have_text(["build-10", "build-2"])  # last pushed first
    page.select_option("#sort", "name")  # no button pressed
    expect(links).to_have_text(["build-2", "build-10"])
