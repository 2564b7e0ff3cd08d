"""`/w/WS/projects`: the projects with their repositories and packages; owners create a
project there and rename one in its settings, others may not."""

from __future__ import annotations

from tests.functional.ui.conftest import Ui


async def test_projects_are_listed_with_their_repositories_and_packages(ui: Ui) -> None:
    await ui.api.push("acme/web/api", "v1")
    page = await (await ui.as_("owner")).get("/w/acme/projects")
    assert page.status_code == 200
    plat = page.text[page.text.index('href="/w/acme/projects/PLAT"') :]
    plat = plat.split('<section class="project">')[0]
    assert "acme/web" in plat and "/p/acme/web/api" in plat and "/p/acme/web/db" in plat
    assert "acme/site" not in plat
    assert 'href="/w/acme/projects/WWW"' in page.text and "/p/acme/site/www" in page.text


async def test_a_reader_sees_only_what_they_may_pull(ui: Ui) -> None:
    page = await (await ui.as_("reader")).get("/w/acme/projects")
    assert page.status_code == 200
    assert "/p/acme/web/api" in page.text
    assert 'id="new-project"' not in page.text and "/projects/PLAT/settings" not in page.text
    assert (await (await ui.as_("outsider")).get("/w/globex/projects")).status_code == 404


async def test_owners_create_a_project(ui: Ui) -> None:
    owner = await ui.as_("owner")
    created = await owner.post("/w/acme/projects", {"key": "OPS", "name": "Operations"})
    assert created.status_code == 303
    page = await owner.follow(created)
    assert "Project OPS is created." in page.text and "Operations" in page.text
    again = await owner.post("/w/acme/projects", {"key": "OPS", "name": "Operations"})
    assert again.status_code == 400 and "Project OPS already exists in acme." in again.text


async def test_a_bad_project_key_is_shown_on_the_form_with_what_was_typed(ui: Ui) -> None:
    refused = await (await ui.as_("owner")).post(
        "/w/acme/projects", {"key": "ops", "name": "Ops team"}
    )
    assert refused.status_code == 400
    assert "&#39;ops&#39; is not a valid key: use A-Z, 0-9 and _" in refused.text
    assert 'value="Ops team"' in refused.text


async def test_members_who_do_not_own_may_not_create_or_rename_projects(ui: Ui) -> None:
    member = await ui.as_("member")
    refused = await member.post("/w/acme/projects", {"key": "OPS"})
    assert refused.status_code == 403
    assert (await member.get("/w/acme/projects/PLAT/settings")).status_code == 403
    renamed = await member.post("/w/acme/projects/PLAT/settings", {"name": "Mine"})
    assert renamed.status_code == 403
    projects = await ui.api.get("/workspaces/acme/projects", "owner")
    assert [p["key"] for p in projects.json()["items"]] == ["PLAT", "WWW"]


async def test_owners_rename_a_project_and_its_key_stays(ui: Ui) -> None:
    owner = await ui.as_("owner")
    renamed = await owner.post("/w/acme/projects/PLAT/settings", {"name": "Platform team"})
    assert renamed.status_code == 303
    page = await owner.follow(renamed)
    assert "The project is renamed." in page.text and "Platform team" in page.text
    assert (await owner.get("/w/acme/projects/PLAT")).status_code == 200
    empty = await owner.post("/w/acme/projects/PLAT/settings", {"name": "  "})
    assert empty.status_code == 400 and "A name is 1 to 200 characters." in empty.text


async def test_a_project_form_without_its_csrf_token_is_refused(ui: Ui) -> None:
    owner = await ui.as_("owner")
    assert (await owner.post("/w/acme/projects", {"key": "OPS"}, csrf=False)).status_code == 403
    refused = await owner.post("/w/acme/projects/PLAT/settings", {"name": "X"}, csrf=False)
    assert refused.status_code == 403


async def test_a_refusal_on_the_project_form_is_in_the_readers_language(ui: Ui) -> None:
    owner = await ui.as_("owner")
    owner.language = "ja"
    refused = await owner.post("/w/acme/projects", {"key": "ops"})
    assert refused.status_code == 400
    assert "はキーとして使えません" in refused.text and "not a valid key" not in refused.text
