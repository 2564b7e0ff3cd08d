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
    # A workspace of its own: the other browser tests share the server and push into acme.
    server.cli("workspace", "create", "metered", "--owner", OWNER, "--name", "Metered")
    server.cli("project", "create", "metered", "OPS", "--name", "Operations")
    server.cli("repo", "create", "metered/web", "--project", "OPS")
    for name in ("metered/web/usage-a", "metered/web/usage-b"):
        server.cli("package", "create", name, "--repo", "web")
    server.cli("workspace", "quota", "metered", "12KiB")
    _check_usage_page(server, containers, new_page, tmp_path)


def _check_usage_page(
    server: Server, containers: ContainersConfig, new_page: Callable[..., Page], tmp_path: Path
) -> None:
    page = new_page()
    sign_in(page, server, OWNER)
    secret = create_token(page, server, "usage", "write:package")
    push_multi_arch(server, containers, tmp_path / "a", "metered/web/usage-a:v1", secret)
    push_multi_arch(server, containers, tmp_path / "b", "metered/web/usage-b:v1", secret)

    page.goto(f"{server.url}/w/metered")
    page.get_by_role("link", name="Storage usage").click()
    expect(page.locator("svg rect").first).to_be_visible()
    expect(page.locator("main")).to_contain_text("metered/web/usage-a")
    expect(page.locator("main")).to_contain_text("metered/web/usage-b")
    expect(page.locator("meter")).to_be_visible()
    expect(page.locator("main")).to_contain_text("of 12.3 kB")
    screenshot(page, "workspace-usage")
