"""`/w/WS/repos`: the repositories with their project, visibility and packages; owners
create one there, and rename one or change its visibility in its settings."""

from __future__ import annotations

import pytest

from tests.functional.ui.conftest import Ui

REPOS = "/w/acme/repos"


async def test_repositories_are_listed_with_their_project_visibility_and_packages(ui: Ui) -> None:
    page = await (await ui.as_("owner")).get(REPOS)
    assert page.status_code == 200
    web = page.text[page.text.index('href="/w/acme/repos/web"') :].split("</tr>")[0]
    assert "PLAT" in web and "Private" in web and "/p/acme/web/api" in web
    site = page.text[page.text.index('href="/w/acme/repos/site"') :].split("</tr>")[0]
    assert "WWW" in site and "Public" in site and "/p/acme/site/www" in site


async def test_owners_create_a_repository_in_a_project(ui: Ui) -> None:
    owner = await ui.as_("owner")
    created = await owner.post(REPOS, {"slug": "docs", "project": "WWW", "visibility": "public"})
    assert created.status_code == 303
    page = await owner.follow(created)
    assert "Repository acme/docs is created." in page.text
    repo = await ui.api.get("/workspaces/acme/repositories/docs", "owner")
    assert repo.json()["project"] == "WWW" and repo.json()["public"] is True


async def test_a_bad_repository_is_refused_on_the_form(ui: Ui) -> None:
    owner = await ui.as_("owner")
    refused = await owner.post(REPOS, {"slug": "Web App", "project": "PLAT"})
    assert refused.status_code == 400
    assert "is not a valid repository name" in refused.text and 'value="Web App"' in refused.text
    taken = await owner.post(REPOS, {"slug": "web", "project": "PLAT"})
    assert taken.status_code == 400 and "Repository acme/web already exists." in taken.text
    nowhere = await owner.post(REPOS, {"slug": "x", "project": "NOPE"})
    assert nowhere.status_code == 400
    odd = await owner.post(REPOS, {"slug": "x", "project": "PLAT", "visibility": "secret"})
    assert odd.status_code == 400


async def test_owners_make_a_repository_public_and_visitors_can_pull(ui: Ui) -> None:
    await ui.api.push("acme/web/api", "v1")
    assert (await ui.anonymous().get("/p/acme/web/api")).status_code == 404
    owner = await ui.as_("owner")
    changed = await owner.post(
        "/w/acme/repos/web/settings", {"action": "visibility", "visibility": "public"}
    )
    assert changed.status_code == 303
    assert "The visibility is saved." in (await owner.follow(changed)).text
    assert (await ui.anonymous().get("/p/acme/web/api")).status_code == 200


async def test_owners_rename_a_repository_and_its_packages_follow(ui: Ui) -> None:
    owner = await ui.as_("owner")
    renamed = await owner.post("/w/acme/repos/web/settings", {"action": "rename", "slug": "webapp"})
    assert renamed.status_code == 303
    assert renamed.headers["location"] == "/w/acme/repos/webapp/settings?done=rename"
    package = await ui.api.get("/packages/acme/web/api", "reader")
    assert package.status_code == 200 and package.json()["repository"] == "acme/webapp"
    taken = await owner.post("/w/acme/repos/webapp/settings", {"action": "rename", "slug": "site"})
    assert taken.status_code == 400 and "Repository acme/site already exists." in taken.text


@pytest.mark.parametrize(
    ("who", "on_web", "create"),
    [
        ("admin", 403, 404),  # admin of acme/web, no member of acme
        ("member", 404, 403),  # member of acme, who may not read acme/web
        ("outsider", 404, 404),
    ],
)
async def test_only_owners_change_a_repository(ui: Ui, who: str, on_web: int, create: int) -> None:
    client = await ui.as_(who)
    assert (await client.get("/w/acme/repos/web/settings")).status_code == on_web
    refused = await client.post(
        "/w/acme/repos/web/settings", {"action": "visibility", "visibility": "public"}
    )
    assert refused.status_code == on_web
    created = await client.post(REPOS, {"slug": "x", "project": "PLAT"})
    assert created.status_code == create
    repo = await ui.api.get("/workspaces/acme/repositories/web", "owner")
    assert repo.json()["public"] is False
    assert (await ui.api.get("/workspaces/acme/repositories/x", "owner")).status_code == 404
