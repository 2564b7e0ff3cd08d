"""Where people land, what state things are in, confirmations and errors, in a real
browser: a reader signs in from a package's link and comes back to it and finds what was
shared with them on the home page; a protected tag shows its lock and the package its
retention policy and when it ran; revoking a token, removing a member and applying a
policy now each ask first and say what they did; the package form's error reads in
Japanese. Screenshots at 1280 px in English and 390 px in Japanese."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.interop._support import ContainersConfig
from tests.ui.conftest import OWNER, PASSWORD, READER, Server, screenshot, sign_in
from tests.ui.test_browser import create_token, push_multi_arch

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844, "locale": "ja-JP"}


def _fits(page: Page) -> None:
    """Nothing scrolls sideways."""
    viewport = page.viewport_size
    assert viewport is not None
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"the page is {width}px wide on {viewport['width']}px"


def test_a_reader_signs_in_from_a_link_and_lands_on_what_was_shared(
    server: Server, new_page: Callable[..., Page]
) -> None:
    server.cli("workspace", "create", "shared", "--owner", OWNER, "--name", "Shared")
    server.cli("project", "create", "shared", "APP", "--name", "Applications")
    server.cli("repo", "create", "shared/app", "--project", "APP")
    server.cli("package", "create", "shared/app/tool", "--repo", "app")
    server.cli("repo", "grant", "shared/app", READER, "read")

    page = new_page(**DESKTOP)
    page.goto(f"{server.url}/p/shared/app/tool")  # a link someone sent: private
    expect(page.locator("h1")).to_have_text("Not found")
    page.locator("header").get_by_role("link", name="Sign in").click()
    page.fill("#email", READER)
    page.fill("#password", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{server.url}/p/shared/app/tool")  # back where the link led
    expect(page.locator("h1")).to_have_text("shared/app/tool")

    page.goto(f"{server.url}/")
    shared = page.locator("ul.granted")
    expect(shared).to_contain_text("shared/app/tool")
    expect(page.locator("header nav")).not_to_contain_text("Create package")
    screenshot(page, "home-shared")

    phone = new_page(**PHONE)
    sign_in(phone, server, READER)
    expect(phone.locator("main h2")).to_have_text("共有されているパッケージ")
    _fits(phone)
    screenshot(phone, "home-shared-phone-ja")


def test_protection_retention_and_collection_at_a_glance_and_applied_after_a_confirmation(
    server: Server, containers: ContainersConfig, new_page: Callable[..., Page], tmp_path: Path
) -> None:
    server.cli("package", "create", "acme/web/state", "--repo", "web")
    page = new_page(**DESKTOP)
    sign_in(page, server, OWNER)
    secret = create_token(page, server, "state", "write:package")
    push_multi_arch(server, containers, tmp_path / "v1", "acme/web/state:v1", secret)
    push_multi_arch(server, containers, tmp_path / "dev", "acme/web/state:dev", secret)

    settings = f"{server.url}/p/acme/web/state/-/settings"
    page.goto(settings)
    page.fill("#patterns", "v*")
    page.get_by_role("button", name="Save protection").click()
    expect(page.locator(".notice")).to_contain_text("Tag protection is saved.")
    page.fill("#keep_newest", "1")
    page.fill("#keep_pattern", "v*")
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator(".notice")).to_contain_text("The retention policy is saved.")

    page.goto(f"{server.url}/p/acme/web/state")
    lock = page.locator("table.tags .badge.protected")
    expect(lock).to_have_count(1)
    expect(lock).to_contain_text("v*")
    assert "only package admins" in (lock.get_attribute("title") or "")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("keeps the newest 1 tags; keeps tags matching v*")
    expect(facts).to_contain_text("Not run since it was saved")
    server.cli("gc", "--quiet")
    page.reload()
    expect(facts).to_contain_text("Last ran")
    screenshot(page, "package-state")

    page.goto(settings)
    page.get_by_role("link", name="Apply the saved policy now").click()
    expect(page.locator("h1")).to_have_text("Apply the retention policy of acme/web/state now?")
    expect(page.locator("main")).to_contain_text("The policy deletes nothing now.")
    screenshot(page, "confirm-apply")
    page.get_by_role("button", name="Apply now").click()
    expect(page.locator(".notice")).to_contain_text(
        "it deleted 0 tags and 0 image versions", ignore_case=True
    )

    page.goto(f"{server.url}/w/acme/usage")
    expect(page.locator("dl.facts")).to_contain_text("Last garbage collection")
    expect(page.locator("dl.facts")).to_contain_text("Unused layers")

    phone = new_page(**PHONE)
    sign_in(phone, server, OWNER)
    phone.goto(f"{server.url}/p/acme/web/state")
    expect(phone.locator("dl.facts")).to_contain_text("最後の実行")
    _fits(phone)
    screenshot(phone, "package-state-phone-ja")
    phone.goto(f"{server.url}/p/acme/web/state/-/settings/apply")
    screenshot(phone, "confirm-apply-phone-ja")


def test_revoking_a_token_and_removing_a_member_ask_first_and_say_what_they_did(
    server: Server, new_page: Callable[..., Page]
) -> None:
    helper = "helper@example.com"
    server.cli("user", "create", helper, "--password-stdin", input=PASSWORD.encode())
    server.cli("workspace", "member", "acme", helper)
    page = new_page(**DESKTOP)
    sign_in(page, server, OWNER)
    create_token(page, server, "to-revoke", "read:package")

    page.goto(f"{server.url}/settings/tokens")
    page.get_by_role("link", name="Revoke to-revoke").click()
    expect(page.locator("h1")).to_have_text("Revoke token to-revoke?")
    screenshot(page, "confirm-revoke")
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator("table.tokens")).to_contain_text("Active")
    page.get_by_role("link", name="Revoke to-revoke").click()
    page.locator("main form button[type=submit]").click()
    expect(page.locator(".notice")).to_have_text(
        "Token to-revoke is revoked: it can no longer be used."
    )

    page.goto(f"{server.url}/w/acme/members")
    page.locator(f"a[href='/w/acme/members/remove?email={helper.replace('@', '%40')}']").click()
    expect(page.locator("h1")).to_have_text(f"Remove {helper} from acme?")
    screenshot(page, "confirm-remove-member")
    page.get_by_role("button", name="Remove member").click()
    expect(page.locator(".notice")).to_contain_text("The member is removed.")
    expect(page.locator("main")).not_to_contain_text(helper)

    phone = new_page(**PHONE)
    sign_in(phone, server, OWNER)
    create_token(phone, server, "phone", "read:package")
    phone.goto(f"{server.url}/settings/tokens")
    phone.locator("table.tokens a.danger").first.click()
    expect(phone.locator("h1")).to_contain_text("を無効化しますか")
    _fits(phone)
    screenshot(phone, "confirm-revoke-phone-ja")


def test_the_package_forms_error_reads_in_japanese(
    server: Server, new_page: Callable[..., Page]
) -> None:
    page = new_page(**{**DESKTOP, "locale": "ja-JP"})
    sign_in(page, server, OWNER)
    page.goto(f"{server.url}/new-package")
    page.fill("#name", "Web App")
    page.locator("main form button[type=submit]").click()
    error = page.locator("p.error")
    expect(error).to_contain_text("パッケージ名に使えません")
    expect(error).not_to_contain_text("invalid")
    assert error.get_attribute("lang") is None
    screenshot(page, "package-name-error-ja")
    english = new_page(**DESKTOP)
    sign_in(english, server, OWNER)
    english.goto(f"{server.url}/new-package")
    english.fill("#name", "Web App")
    english.locator("main form button[type=submit]").click()
    expect(english.locator("p.error")).to_contain_text("is not a valid package name")
    screenshot(english, "package-name-error")
