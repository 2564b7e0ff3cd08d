"""Repositories and their grants: you see what you may read; owners manage them."""

from __future__ import annotations

import pytest

from tests.functional.api.people import Api, assert_problem, email


async def test_owner_creates_a_repository(api: Api) -> None:
    body = {"slug": "mobile", "project": "PLAT", "public": True}
    response = await api.post("/workspaces/acme/repositories", "owner", json=body)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/api/v1/workspaces/acme/repositories/mobile"
    created = response.json()
    assert (created["full_name"], created["project"], created["public"]) == (
        "acme/mobile",
        "PLAT",
        True,
    )
    assert created["role"] == "admin"


async def test_repository_in_an_unknown_project_is_404(api: Api) -> None:
    body = {"slug": "mobile", "project": "NOPE"}
    assert_problem(await api.post("/workspaces/acme/repositories", "owner", json=body), 404)


async def test_members_may_not_create_repositories(api: Api) -> None:
    body = {"slug": "mobile", "project": "PLAT"}
    assert_problem(await api.post("/workspaces/acme/repositories", "member", json=body), 403)


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("owner", ["site", "web"]),
        ("member", ["site"]),
        ("reader", ["site", "web"]),
        ("outsider", ["site"]),
    ],
)
async def test_list_shows_the_repositories_you_may_read(
    api: Api, who: str, expected: list[str]
) -> None:
    response = await api.get("/workspaces/acme/repositories", who)
    assert [r["slug"] for r in response.json()["items"]] == expected


async def test_list_is_404_where_you_read_nothing_and_belong_nowhere(api: Api) -> None:
    assert_problem(await api.get("/workspaces/globex/repositories", "outsider"), 404)


@pytest.mark.parametrize(
    ("who", "role"), [("reader", "read"), ("writer", "write"), ("admin", "admin")]
)
async def test_get_shows_your_role(api: Api, who: str, role: str) -> None:
    response = await api.get("/workspaces/acme/repositories/web", who)
    assert response.json()["role"] == role


async def test_get_of_an_unreadable_repository_is_404(api: Api) -> None:
    assert_problem(await api.get("/workspaces/acme/repositories/web", "member"), 404)


async def test_owner_makes_a_repository_public(api: Api) -> None:
    response = await api.patch("/workspaces/acme/repositories/web", "owner", json={"public": True})
    assert response.json()["public"] is True
    assert (await api.get("/packages/acme/web/api")).status_code == 200


async def test_repository_admins_may_not_change_visibility(api: Api) -> None:
    response = await api.patch("/workspaces/acme/repositories/web", "admin", json={"public": True})
    assert_problem(response, 403)


async def test_changing_an_unreadable_repository_is_404(api: Api) -> None:
    response = await api.patch("/workspaces/acme/repositories/web", "member", json={"public": True})
    assert_problem(response, 404)


async def test_owner_manages_repository_grants(api: Api) -> None:
    path = f"/workspaces/acme/repositories/web/grants/{email('member')}"
    assert (await api.put(path, "owner", json={"role": "read"})).json()["role"] == "read"
    assert (await api.get("/packages/acme/web/api", "member")).status_code == 200
    grants = (await api.get("/workspaces/acme/repositories/web/grants", "owner")).json()["items"]
    assert [(g["email"], g["role"]) for g in grants] == [
        (email("admin"), "admin"),
        (email("member"), "read"),
        (email("reader"), "read"),
    ]
    assert (await api.delete(path, "owner")).status_code == 204
    assert_problem(await api.get("/packages/acme/web/api", "member"), 404)


async def test_repository_grants_need_an_owner(api: Api) -> None:
    path = f"/workspaces/acme/repositories/web/grants/{email('member')}"
    assert_problem(await api.put(path, "admin", json={"role": "read"}), 403)
    assert_problem(await api.put(path, "member", json={"role": "read"}), 404)


async def test_owner_renames_a_repository_and_its_packages_follow(api: Api) -> None:
    response = await api.patch(
        "/workspaces/acme/repositories/web", "owner", json={"slug": "webapp"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["full_name"] == "acme/webapp"
    package = await api.get("/packages/acme/web/api", "reader")  # its grant followed it
    assert package.json()["repository"] == "acme/webapp"
    assert_problem(await api.get("/workspaces/acme/repositories/web", "owner"), 404)


async def test_a_repository_is_not_renamed_onto_another_or_to_a_bad_slug(api: Api) -> None:
    taken = await api.patch("/workspaces/acme/repositories/web", "owner", json={"slug": "site"})
    assert_problem(taken, 409)
    bad = await api.patch("/workspaces/acme/repositories/web", "owner", json={"slug": "Web App"})
    assert_problem(bad, 422)


async def test_repository_admins_may_not_rename_it(api: Api) -> None:
    response = await api.patch("/workspaces/acme/repositories/web", "admin", json={"slug": "x"})
    assert_problem(response, 403)
