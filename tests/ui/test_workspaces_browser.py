"""Running a workspace from the browser: create a workspace, a project and a public
repository in it, find them on /w/WS/projects and /w/WS/repos with the breadcrumbs of one
rule, rename the project and the workspace, make the repository private. Screenshots of
the pages, desktop (1280) and phone (390), English and Japanese."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.ui.conftest import OWNER, Server, screenshot, sign_in

VARIANTS = (("", 1280, 800, "en-US"), ("-ja", 1280, 800, "ja-JP"), ("-phone", 390, 780, "en-US"))
VARIANTS += (("-phone-ja", 390, 780, "ja-JP"),)


def test_owner_creates_and_renames_a_workspace_project_and_repository(
    server: Server, new_page: Callable[..., Page]
) -> None:
    server.cli("package", "create", "acme/web/dashboard", "--repo", "web")  # for the screenshots
    page = new_page(width=1280, height=800)
    sign_in(page, server, OWNER)
    page.get_by_role("link", name="Create a workspace").click()
    page.fill("#workspace-slug", "initech")
    page.fill("#workspace-name", "Initech")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.locator(".notice")).to_contain_text("Workspace initech is created.")

    page.get_by_role("link", name="Projects").first.click()
    page.fill("#project-key", "OPS")
    page.fill("#project-name", "Operations")
    page.get_by_role("button", name="Create project").click()
    expect(page.locator(".notice")).to_contain_text("Project OPS is created.")
    page.fill("#project-key", "OPS")  # again: refused on the form, what was typed stays
    page.fill("#project-name", "Ops again")
    page.get_by_role("button", name="Create project").click()
    expect(page.locator(".error")).to_contain_text("Project OPS already exists in initech.")
    expect(page.locator("#project-name")).to_have_value("Ops again")

    page.goto(f"{server.url}/w/initech/repos")
    page.fill("#repository-slug", "runbooks")
    page.select_option("#repository-project", "OPS")
    page.select_option("#repository-visibility", "public")
    page.get_by_role("button", name="Create repository").click()
    expect(page.locator(".notice")).to_contain_text("Repository initech/runbooks is created.")
    row = page.locator("table.repositories tbody tr", has_text="initech/runbooks")
    expect(row).to_contain_text("OPS")
    expect(row).to_contain_text("Public")

    # The repository's page: breadcrumbs workspace / project / repository.
    row.get_by_role("link", name="initech/runbooks").click()
    expect(page.locator("nav.crumbs a")).to_have_text(["initech", "OPS", "runbooks"])
    page.get_by_role("link", name="Repository settings").click()
    page.get_by_label("Private").check()
    page.get_by_role("button", name="Save visibility").click()
    expect(page.locator(".notice")).to_contain_text("The visibility is saved.")
    expect(page.locator("dl.facts")).to_contain_text("Private")

    page.goto(f"{server.url}/w/initech/projects/OPS/settings")
    page.fill("#project-name", "Operations team")
    page.get_by_role("button", name="Rename project").click()
    expect(page.locator(".notice")).to_contain_text("The project is renamed.")
    page.goto(f"{server.url}/w/initech/projects")
    expect(page.locator("main")).to_contain_text("Operations team")

    page.goto(f"{server.url}/w/initech/settings")
    page.fill("#workspace-name", "Initech Corporation")
    page.get_by_role("button", name="Rename workspace").click()
    expect(page.locator(".notice")).to_contain_text("The workspace is renamed.")
    page.goto(f"{server.url}/")
    expect(page.locator("main")).to_contain_text("Initech Corporation")

    # Screenshots, on acme (whose pages hold packages pushed by other browser tests).
    for suffix, width, height, locale in VARIANTS:
        shot = new_page(width=width, height=height, locale=locale)
        sign_in(shot, server, OWNER)
        for path, name in (
            ("/w/acme/projects", "projects"),
            ("/w/acme/repos", "repositories"),
            ("/w/acme/repos/web/settings", "repository-settings"),
            ("/new-workspace", "workspace-new"),
            ("/w/acme/members", "members"),
        ):
            shot.goto(f"{server.url}{path}")
            wide = shot.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"{path} is {wide}px wide on a {width}px screen"
            screenshot(shot, f"{name}{suffix}")
