"""People from the browser: a site admin invites a person by email and passes the link
on; the person sets a password with it and signs in; the workspace's owner adds them as a
member and grants them a role on a repository with the one grant form; the link works
once. Screenshots of the people, invitation and members pages, desktop and phone, English
and Japanese."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.ui.conftest import OWNER, PASSWORD, Server, screenshot, sign_in

ADMIN = "root@example.com"
INVITED = "dana@example.com"
VARIANTS = (("", 1280, 800, "en-US"), ("-ja", 1280, 800, "ja-JP"), ("-phone", 390, 780, "en-US"))
VARIANTS += (("-phone-ja", 390, 780, "ja-JP"),)


def invite(page: Page, server: Server, email: str, name: str) -> str:
    page.goto(f"{server.url}/admin/people")
    page.fill("#invite-email", email)
    page.fill("#invite-name", name)
    page.locator("#invite button[type=submit]").click()
    link = page.locator("#invitation-link").inner_text().strip()
    assert link.startswith(f"{server.url}/invitation?code="), link
    return link


def test_admin_invites_a_person_who_sets_a_password_and_is_granted_a_role(
    server: Server, new_page: Callable[..., Page]
) -> None:
    server.cli("user", "create", ADMIN, "--admin", "--password-stdin", input=PASSWORD.encode())
    admin = new_page(width=1280, height=800)
    sign_in(admin, server, ADMIN)
    admin.get_by_role("link", name="People").click()
    link = invite(admin, server, INVITED, "Dana")
    expect(admin.locator("#invited")).to_contain_text("Cargohold sends no email")
    screenshot(admin, "people-invited")
    admin.reload()
    expect(admin.locator("#invitation-link")).to_have_count(0)  # shown once
    expect(admin.locator("table.people")).to_contain_text("Invited, until")

    # The invited person, in a browser of their own, sets a password and signs in.
    person = new_page(width=1280, height=800)
    person.goto(link)
    expect(person.locator("main")).to_contain_text(INVITED)
    person.fill("#password", "dana's long password")
    person.fill("#confirm", "not the same one")
    person.locator("#set-password button[type=submit]").click()
    expect(person.locator(".error")).to_contain_text("The two passwords differ.")
    person.fill("#password", "dana's long password")
    person.fill("#confirm", "dana's long password")
    person.locator("#set-password button[type=submit]").click()
    expect(person.locator("h1")).to_have_text("Your password is set")
    person.goto(link)
    expect(person.locator("h1")).to_have_text("This invitation link no longer works")
    person.goto(f"{server.url}/sign-in")
    person.fill("#email", INVITED)
    person.fill("#password", "dana's long password")
    person.locator("main form button[type=submit]").click()
    person.wait_for_url(f"{server.url}/")
    expect(person.locator(".who")).to_have_text("Dana")

    # The owner adds them to acme and grants Write on the repository acme/web.
    owner = new_page(width=1280, height=800)
    sign_in(owner, server, OWNER)
    owner.goto(f"{server.url}/w/acme/members")
    owner.fill("#member-email", INVITED)
    owner.locator("#add-member button[type=submit]").click()
    expect(owner.locator(".notice")).to_contain_text("The member is saved.")
    owner.fill("#grant-email", INVITED)
    owner.select_option("#grant-target", "repository:web")
    owner.select_option("#grant-role", "write")
    owner.locator("#grant button[type=submit]").click()
    expect(owner.locator(".notice")).to_contain_text("The role is granted.")
    row = owner.locator("table.grants tbody tr", has_text=INVITED)
    expect(row).to_contain_text("acme/web")
    expect(row).to_contain_text("Write")
    person.goto(f"{server.url}/w/acme/repos/web")
    expect(person.locator("h1")).to_contain_text("acme/web")

    # Screenshots: the people page and an invitation, in each size and language.
    for suffix, width, height, locale in VARIANTS:
        shot = new_page(width=width, height=height, locale=locale)
        sign_in(shot, server, ADMIN)
        shown = invite(shot, server, f"guest{suffix or '-en'}@example.com", "Guest")
        for path, name in (("/admin/people", "people"), (shown, "invitation")):
            shot.goto(path if path.startswith("http") else f"{server.url}{path}")
            wide = shot.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"{path} is {wide}px wide on a {width}px screen"
            screenshot(shot, f"{name}{suffix}")
