"""Workspaces and members: members see a workspace, owners change it."""

from __future__ import annotations

import pytest

from tests.functional.api.people import Api, assert_problem, email


async def test_create_workspace_makes_you_its_owner(api: Api) -> None:
    response = await api.post("/workspaces", "outsider", json={"slug": "initech", "name": "In"})
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/api/v1/workspaces/initech"
    body = response.json()
    assert (body["slug"], body["name"], body["owner"]) == ("initech", "In", True)
    members = (await api.get("/workspaces/initech/members", "outsider")).json()["items"]
    assert members == [{"email": email("outsider"), "display_name": "outsider", "owner": True}]


async def test_create_workspace_for_someone_else_needs_a_site_admin(api: Api) -> None:
    body = {"slug": "initech", "owner": email("other")}
    assert_problem(await api.post("/workspaces", "outsider", json=body), 403)
    response = await api.post("/workspaces", "site_admin", json=body)
    assert response.status_code == 201
    assert (await api.get("/workspaces/initech", "other")).json()["owner"] is True


async def test_create_workspace_needs_admin_scope(api: Api) -> None:
    response = await api.post(
        "/workspaces", "outsider", scope="write:package", json={"slug": "initech"}
    )
    body = assert_problem(response, 403)
    assert "admin:package" in body["detail"]


async def test_list_workspaces_shows_only_yours(api: Api) -> None:
    response = await api.get("/workspaces", "member")
    assert [(w["slug"], w["owner"]) for w in response.json()["items"]] == [("acme", False)]
    assert (await api.get("/workspaces", "outsider")).json()["items"] == []


async def test_site_admins_see_every_workspace(api: Api) -> None:
    response = await api.get("/workspaces", "site_admin")
    assert [w["slug"] for w in response.json()["items"]] == ["acme", "globex"]


@pytest.mark.parametrize("who", ["member", "owner", "site_admin"])
async def test_members_see_the_workspace(api: Api, who: str) -> None:
    response = await api.get("/workspaces/acme", who, scope="read:package")
    assert response.status_code == 200
    assert response.json()["slug"] == "acme"


@pytest.mark.parametrize("who", ["outsider", "other", "reader"])
async def test_non_members_get_404_like_a_missing_workspace(api: Api, who: str) -> None:
    hidden = assert_problem(await api.get("/workspaces/acme", who), 404)
    missing = assert_problem(await api.get("/workspaces/nope", who), 404)
    assert hidden["detail"] == missing["detail"].replace("nope", "acme")


async def test_owner_updates_the_workspace(api: Api) -> None:
    response = await api.patch(
        "/workspaces/acme", "owner", json={"name": "Acme Inc", "create_on_push": True}
    )
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["create_on_push"]) == ("Acme Inc", True)


async def test_members_may_not_update_the_workspace(api: Api) -> None:
    assert_problem(await api.patch("/workspaces/acme", "member", json={"name": "x"}), 403)


async def test_members_list_members(api: Api) -> None:
    response = await api.get("/workspaces/acme/members", "member", scope="read:package")
    assert [(m["email"], m["owner"]) for m in response.json()["items"]] == [
        (email("member"), False),
        (email("owner"), True),
    ]


async def test_owner_adds_a_member(api: Api) -> None:
    response = await api.put(f"/workspaces/acme/members/{email('reader')}", "owner", json={})
    assert response.status_code == 201
    assert response.json() == {"email": email("reader"), "display_name": "reader", "owner": False}
    assert (await api.get("/workspaces/acme", "reader")).status_code == 200


async def test_owner_makes_a_member_an_owner(api: Api) -> None:
    path = f"/workspaces/acme/members/{email('member')}"
    response = await api.put(path, "owner", json={"owner": True})
    assert response.status_code == 200
    assert (await api.get("/workspaces/acme", "member")).json()["owner"] is True


async def test_members_may_not_add_members(api: Api) -> None:
    response = await api.put(f"/workspaces/acme/members/{email('reader')}", "member", json={})
    assert_problem(response, 403)


async def test_adding_an_unknown_person_is_404(api: Api) -> None:
    response = await api.put("/workspaces/acme/members/nobody@example.com", "owner", json={})
    assert_problem(response, 404)


async def test_owner_removes_a_member(api: Api) -> None:
    response = await api.delete(f"/workspaces/acme/members/{email('member')}", "owner")
    assert response.status_code == 204
    assert_problem(await api.get("/workspaces/acme", "member"), 404)


async def test_the_last_owner_stays(api: Api) -> None:
    path = f"/workspaces/acme/members/{email('owner')}"
    assert_problem(await api.delete(path, "owner"), 409)
    assert_problem(await api.put(path, "owner", json={"owner": False}), 409)
    assert (await api.get("/workspaces/acme", "owner")).json()["owner"] is True
