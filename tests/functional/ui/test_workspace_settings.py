"""Anyone signed in creates a workspace and owns it; its owners rename it."""

from __future__ import annotations

from tests.functional.ui.conftest import Ui


async def test_a_person_creates_a_workspace_and_owns_it(ui: Ui) -> None:
    outsider = await ui.as_("outsider")
    form = await outsider.get("/new-workspace")
    assert form.status_code == 200 and 'id="new-workspace"' in form.text
    created = await outsider.post("/new-workspace", {"slug": "initech", "name": "Initech"})
    assert created.status_code == 303
    page = await outsider.follow(created)
    assert "Workspace initech is created." in page.text
    members = await ui.api.get("/workspaces/initech/members", "outsider")
    assert [(m["email"], m["owner"]) for m in members.json()["items"]] == [
        ("outsider@example.com", True)
    ]


async def test_a_taken_or_bad_workspace_name_is_shown_on_the_form(ui: Ui) -> None:
    outsider = await ui.as_("outsider")
    taken = await outsider.post("/new-workspace", {"slug": "acme"})
    assert taken.status_code == 400 and "Workspace acme already exists." in taken.text
    bad = await outsider.post("/new-workspace", {"slug": "-Acme", "name": "Mine"})
    assert bad.status_code == 400 and "&#39;-Acme&#39; is not a valid short name" in bad.text
    assert 'value="Mine"' in bad.text


async def test_visitors_are_sent_to_sign_in(ui: Ui) -> None:
    visitor = await ui.as_(None)
    response = await visitor.get("/new-workspace")
    assert response.status_code == 303 and response.headers["location"].startswith("/sign-in")
    posted = await visitor.post("/new-workspace", {"slug": "mine"})
    assert posted.status_code == 303 and posted.headers["location"].startswith("/sign-in")


async def test_owners_rename_a_workspace(ui: Ui) -> None:
    owner = await ui.as_("owner")
    renamed = await owner.post("/w/acme/settings", {"name": "Acme Corporation"})
    assert renamed.status_code == 303
    page = await owner.follow(renamed)
    assert "The workspace is renamed." in page.text and "Acme Corporation" in page.text
    empty = await owner.post("/w/acme/settings", {"name": ""})
    assert empty.status_code == 400 and "A name is 1 to 200 characters." in empty.text


async def test_members_who_do_not_own_may_not_rename_it(ui: Ui) -> None:
    member = await ui.as_("member")
    assert (await member.get("/w/acme/settings")).status_code == 403
    assert (await member.post("/w/acme/settings", {"name": "Mine"})).status_code == 403
    assert (await (await ui.as_("outsider")).get("/w/acme/settings")).status_code == 404
    workspace = await ui.api.get("/workspaces/acme", "owner")
    assert workspace.json()["name"] != "Mine"


async def test_workspace_forms_need_their_csrf_token(ui: Ui) -> None:
    owner = await ui.as_("owner")
    assert (await owner.post("/new-workspace", {"slug": "x"}, csrf=False)).status_code == 403
    assert (await owner.post("/w/acme/settings", {"name": "X"}, csrf=False)).status_code == 403
