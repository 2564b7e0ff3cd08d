"""Projects and project grants: members see projects, owners manage them."""

from __future__ import annotations

from tests.functional.api.people import Api, assert_problem, email


async def test_owner_creates_a_project(api: Api) -> None:
    response = await api.post("/workspaces/acme/projects", "owner", json={"key": "DATA"})
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/api/v1/workspaces/acme/projects/DATA"
    assert response.json()["key"] == "DATA"


async def test_members_may_not_create_projects(api: Api) -> None:
    assert_problem(await api.post("/workspaces/acme/projects", "member", json={"key": "X"}), 403)


async def test_outsiders_get_404(api: Api) -> None:
    assert_problem(await api.post("/workspaces/acme/projects", "other", json={"key": "X"}), 404)
    assert_problem(await api.get("/workspaces/acme/projects", "other"), 404)


async def test_invalid_key_is_422(api: Api) -> None:
    response = await api.post("/workspaces/acme/projects", "owner", json={"key": "lower"})
    assert_problem(response, 422)


async def test_members_list_and_get_projects(api: Api) -> None:
    response = await api.get("/workspaces/acme/projects", "member")
    assert [p["key"] for p in response.json()["items"]] == ["PLAT", "WWW"]
    assert (await api.get("/workspaces/acme/projects/PLAT", "member")).json()["name"] == "PLAT"
    assert_problem(await api.get("/workspaces/acme/projects/NOPE", "member"), 404)


async def test_owner_grants_a_role_on_a_project(api: Api) -> None:
    path = f"/workspaces/acme/projects/WWW/grants/{email('outsider')}"
    response = await api.put(path, "owner", json={"role": "write"})
    assert response.status_code == 200
    assert response.json() == {
        "email": email("outsider"),
        "display_name": "outsider",
        "role": "write",
    }
    grants = (await api.get("/workspaces/acme/projects/WWW/grants", "owner")).json()["items"]
    assert [(g["email"], g["role"]) for g in grants] == [(email("outsider"), "write")]


async def test_project_grants_list(api: Api) -> None:
    response = await api.get("/workspaces/acme/projects/PLAT/grants", "owner")
    assert [(g["email"], g["role"]) for g in response.json()["items"]] == [
        (email("writer"), "write")
    ]


async def test_owner_removes_a_project_grant(api: Api) -> None:
    path = f"/workspaces/acme/projects/PLAT/grants/{email('writer')}"
    assert (await api.delete(path, "owner")).status_code == 204
    assert_problem(await api.delete(path, "owner"), 404)
    assert_problem(await api.get("/packages/acme/web/api", "writer"), 404)


async def test_members_may_not_manage_project_grants(api: Api) -> None:
    path = f"/workspaces/acme/projects/PLAT/grants/{email('member')}"
    assert_problem(await api.put(path, "member", json={"role": "admin"}), 403)
    assert_problem(await api.get("/workspaces/acme/projects/PLAT/grants", "member"), 403)


async def test_grant_role_must_be_read_write_or_admin(api: Api) -> None:
    path = f"/workspaces/acme/projects/PLAT/grants/{email('member')}"
    assert_problem(await api.put(path, "owner", json={"role": "none"}), 422)


async def test_owner_renames_a_project_and_its_key_stays(api: Api) -> None:
    response = await api.patch("/workspaces/acme/projects/PLAT", "owner", json={"name": "Platform"})
    assert response.status_code == 200, response.text
    assert (response.json()["key"], response.json()["name"]) == ("PLAT", "Platform")
    audit = await api.get("/workspaces/acme/audit", "owner", params={"action": "project.renamed"})
    assert audit.json()["items"][0]["data"]["name"] == {"from": "PLAT", "to": "Platform"}


async def test_only_owners_rename_a_project(api: Api) -> None:
    body = {"name": "Mine"}
    assert_problem(await api.patch("/workspaces/acme/projects/PLAT", "member", json=body), 403)
    assert_problem(await api.patch("/workspaces/acme/projects/PLAT", "other", json=body), 404)
    assert (await api.get("/workspaces/acme/projects/PLAT", "member")).json()["name"] == "PLAT"


async def test_an_empty_project_name_is_422(api: Api) -> None:
    response = await api.patch("/workspaces/acme/projects/PLAT", "owner", json={"name": " "})
    assert_problem(response, 422)
