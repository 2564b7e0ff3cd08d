"""A workspace's storage usage in a real browser: the chart, the figures and the quota."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.interop._support import ContainersConfig
from tests.ui.conftest import OWNER, Server, screenshot, sign_in
from tests.ui.test_browser import create_token, push_multi_arch


def test_the_usage_page_charts_packages_and_shows_the_quota(
    server: Server, containers: ContainersConfig, new_page: Callable[..., Page], tmp_path: Path
) -> None:
    for name in ("acme/web/usage-a", "acme/web/usage-b"):
        server.cli("package", "create", name, "--repo", "web")
    server.cli("workspace", "quota", "acme", "12KiB")
    try:
        _check_usage_page(server, containers, new_page, tmp_path)
    finally:  # the other browser tests share the server
        server.cli("workspace", "quota", "acme", "none")


def _check_usage_page(
    server: Server, containers: ContainersConfig, new_page: Callable[..., Page], tmp_path: Path
) -> None:
    page = new_page()
    sign_in(page, server, OWNER)
    secret = create_token(page, server, "usage", "write:package")
    push_multi_arch(server, containers, tmp_path / "a", "acme/web/usage-a:v1", secret)
    push_multi_arch(server, containers, tmp_path / "b", "acme/web/usage-b:v1", secret)

    page.goto(f"{server.url}/w/acme")
    page.get_by_role("link", name="Storage usage").click()
    expect(page.locator("svg rect").first).to_be_visible()
    expect(page.locator("main")).to_contain_text("acme/web/usage-a")
    expect(page.locator("main")).to_contain_text("acme/web/usage-b")
    expect(page.locator("meter")).to_be_visible()
    expect(page.locator("main")).to_contain_text("of 12.3 kB")
    screenshot(page, "workspace-usage")
