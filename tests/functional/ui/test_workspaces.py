"""Where people land: the home page lists the workspaces a person belongs to and the
packages granted to them in workspaces they do not belong to."""

from __future__ import annotations

from cargohold.authz.roles import Role
from cargohold.services.accounts import directory
from tests.functional.api.people import email
from tests.functional.ui.conftest import Ui
from tests.functional.ui.test_messages import assert_all_japanese, japanese


async def test_a_person_with_a_repository_grant_sees_its_packages_on_the_home_page(
    ui: Ui,
) -> None:
    page = await (await ui.as_("reader")).get("/")
    assert page.status_code == 200
    assert "You are not a member of any workspace yet." not in page.text
    assert "Packages shared with you" in page.text
    for name in ("acme/web/api", "acme/web/db"):
        assert f'href="/p/{name}"' in page.text
    assert "acme/site/www" not in page.text  # public, not granted: reached by browsing
    assert "globex/app" not in page.text


async def test_a_project_grant_shows_the_projects_packages_with_the_role(ui: Ui) -> None:
    page = await (await ui.as_("writer")).get("/")
    assert 'href="/p/acme/web/api"' in page.text and ">Write<" in page.text


async def test_members_find_their_workspaces_and_no_shared_list(ui: Ui) -> None:
    page = await (await ui.as_("member")).get("/")
    assert 'href="/w/acme"' in page.text
    assert "Packages shared with you" not in page.text


async def test_a_grant_in_ones_own_workspace_is_not_listed_twice(ui: Ui) -> None:
    ctx = ui.api.context
    async with ctx.db.transaction() as tx:
        member = await directory.find_user(tx, email("member"))
        web = await directory.find_repository(tx, "acme/web")
        await directory.grant_repository(tx, repository=web, user=member, role=Role.READ)
    page = await (await ui.as_("member")).get("/")
    assert "Packages shared with you" not in page.text


async def test_someone_with_nothing_is_told_so(ui: Ui) -> None:
    page = await (await ui.as_("outsider")).get("/")
    assert "You are not a member of any workspace yet." in page.text


async def test_the_home_page_in_japanese_has_no_english_left(ui: Ui) -> None:
    reader = await japanese(ui, "reader")
    assert_all_japanese(await reader.get("/"), "/ as reader")
