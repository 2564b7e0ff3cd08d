"""Packages: nobody sees one they cannot pull; repository admins create and link them,
package admins delete them."""

from __future__ import annotations

import pytest

from cargohold.authz.roles import Role
from cargohold.services.accounts import directory
from tests.functional.api.people import Api, assert_problem, email, names

ACME_ALL = ["acme/site/www", "acme/web/api", "acme/web/db"]


async def test_repository_admin_creates_a_package(api: Api) -> None:
    body = {"name": "acme/web/worker", "repository": "acme/web"}
    response = await api.post("/packages", "admin", json=body)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/api/v1/packages/acme/web/worker"
    created = response.json()
    assert (created["repository"], created["project"], created["role"]) == (
        "acme/web",
        "PLAT",
        "admin",
    )
    assert created["tag_count"] == 0


async def test_repository_may_be_named_by_its_slug(api: Api) -> None:
    body = {"name": "acme/worker", "repository": "web"}
    assert (await api.post("/packages", "owner", json=body)).json()["repository"] == "acme/web"


async def test_writers_may_not_create_packages(api: Api) -> None:
    body = {"name": "acme/web/worker", "repository": "acme/web"}
    assert_problem(await api.post("/packages", "writer", json=body), 403)


async def test_creating_in_an_unreadable_repository_is_404(api: Api) -> None:
    body = {"name": "acme/web/worker", "repository": "acme/web"}
    assert_problem(await api.post("/packages", "member", json=body), 404)


async def test_creating_needs_credentials(api: Api) -> None:
    body = {"name": "acme/site/new", "repository": "acme/site"}
    assert_problem(await api.post("/packages", json=body), 401)


async def test_package_outside_the_repositorys_workspace_is_422(api: Api) -> None:
    body = {"name": "globex/thing", "repository": "acme/web"}
    assert_problem(await api.post("/packages", "owner", json=body), 422)


async def test_invalid_package_name_is_422(api: Api) -> None:
    body = {"name": "acme/Web", "repository": "acme/web"}
    assert_problem(await api.post("/packages", "owner", json=body), 422)


async def test_existing_package_is_409(api: Api) -> None:
    body = {"name": "acme/web/api", "repository": "acme/web"}
    assert_problem(await api.post("/packages", "owner", json=body), 409)


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("owner", ACME_ALL),
        ("reader", ACME_ALL),
        ("writer", ACME_ALL),
        ("member", ["acme/site/www"]),
        ("outsider", ["acme/site/www"]),
        (None, ["acme/site/www"]),
    ],
)
async def test_workspace_list_shows_what_you_may_pull(
    api: Api, who: str | None, expected: list[str]
) -> None:
    assert names(await api.get("/workspaces/acme/packages", who)) == expected


async def test_workspace_list_is_404_where_you_may_pull_nothing(api: Api) -> None:
    hidden = assert_problem(await api.get("/workspaces/globex/packages", "outsider"), 404)
    missing = assert_problem(await api.get("/workspaces/nope/packages", "outsider"), 404)
    assert hidden["detail"] == missing["detail"].replace("nope", "globex")


async def test_project_list(api: Api) -> None:
    assert names(await api.get("/workspaces/acme/projects/PLAT/packages", "reader")) == [
        "acme/web/api",
        "acme/web/db",
    ]
    assert names(await api.get("/workspaces/acme/projects/WWW/packages")) == ["acme/site/www"]
    assert names(await api.get("/workspaces/acme/projects/PLAT/packages", "member")) == []
    assert_problem(await api.get("/workspaces/acme/projects/PLAT/packages", "outsider"), 404)


async def test_repository_list(api: Api) -> None:
    response = await api.get("/workspaces/acme/repositories/web/packages", "reader")
    assert names(response) == ["acme/web/api", "acme/web/db"]
    assert_problem(await api.get("/workspaces/acme/repositories/web/packages", "member"), 404)


async def test_lists_are_paged(api: Api) -> None:
    first = await api.get("/workspaces/acme/packages", "owner", params={"limit": 2})
    assert names(first) == ACME_ALL[:2]
    after = first.json()["next_after"]
    assert after == ACME_ALL[1]
    rest = await api.get("/workspaces/acme/packages", "owner", params={"limit": 2, "after": after})
    assert names(rest) == ACME_ALL[2:]
    assert rest.json()["next_after"] is None


async def test_access_tokens_list_their_own_packages(api: Api) -> None:
    token = await api.access_token("acme/web", "read:package")
    response = await api.get(
        "/workspaces/acme/packages", headers={"Authorization": f"Bearer {token}"}
    )
    assert names(response) == ACME_ALL


@pytest.mark.parametrize(("who", "role"), [("reader", "read"), ("writer", "write"), (None, "read")])
async def test_get_shows_the_package_and_your_role(api: Api, who: str | None, role: str) -> None:
    name = "acme/site/www" if who is None else "acme/web/api"
    response = await api.get(f"/packages/{name}", who)
    assert response.status_code == 200
    assert response.json()["name"] == name
    assert response.json()["role"] == role


@pytest.mark.parametrize("who", ["member", "outsider", "other", None])
async def test_get_of_an_unreadable_package_is_404_like_a_missing_one(
    api: Api, who: str | None
) -> None:
    hidden = assert_problem(await api.get("/packages/acme/web/api", who), 404)
    missing = assert_problem(await api.get("/packages/acme/web/nope", who), 404)
    assert hidden["detail"] == missing["detail"].replace("nope", "api")


async def test_scopes_cap_your_role(api: Api) -> None:
    response = await api.get("/packages/acme/web/api", "owner", scope="read:package")
    assert response.json()["role"] == "read"


async def test_package_admin_links_a_package_to_another_repository(api: Api) -> None:
    response = await api.patch("/packages/acme/web/api", "owner", json={"repository": "site"})
    assert response.status_code == 200
    assert (response.json()["repository"], response.json()["public"]) == ("acme/site", True)
    assert (await api.get("/packages/acme/web/api")).status_code == 200


async def test_linking_needs_admin_on_the_target_repository(api: Api) -> None:
    response = await api.patch("/packages/acme/web/api", "admin", json={"repository": "site"})
    assert_problem(response, 403)


async def _grant_admin_on_site(api: Api) -> None:
    async with api.context.db.transaction() as tx:
        site = await directory.find_repository(tx, "acme/site")
        user = await directory.find_user(tx, email("admin"))
        await directory.grant_repository(tx, repository=site, user=user, role=Role.ADMIN)


async def test_an_admin_of_both_repositories_may_not_make_a_private_package_public(
    api: Api,
) -> None:
    await _grant_admin_on_site(api)
    response = await api.patch("/packages/acme/web/api", "admin", json={"repository": "site"})
    body = assert_problem(response, 403)
    assert "owner of workspace acme" in body["detail"]
    assert_problem(await api.get("/packages/acme/web/api"), 404)  # still private


async def test_a_workspace_access_token_may_not_make_a_private_package_public(api: Api) -> None:
    robot = {"Authorization": f"Bearer {await api.access_token('acme', 'admin:package')}"}
    body = {"repository": "acme/site"}
    response = await api.client.patch("/api/v1/packages/acme/web/api", headers=robot, json=body)
    assert "acting as a person" in assert_problem(response, 403)["detail"]
    assert_problem(await api.get("/packages/acme/web/api"), 404)


async def test_repository_admins_still_move_packages_between_private_repositories(
    api: Api,
) -> None:
    async with api.context.db.transaction() as tx:
        internal = await directory.create_repository(
            tx, full_name="acme/internal", project_key="PLAT", now=api.context.now()
        )
        user = await directory.find_user(tx, email("admin"))
        await directory.grant_repository(tx, repository=internal, user=user, role=Role.ADMIN)
    response = await api.patch("/packages/acme/web/api", "admin", json={"repository": "internal"})
    assert response.status_code == 200, response.text
    assert (response.json()["repository"], response.json()["public"]) == ("acme/internal", False)


async def test_linking_across_workspaces_is_422(api: Api) -> None:
    body = {"repository": "globex/app"}
    assert_problem(await api.patch("/packages/acme/web/api", "site_admin", json=body), 422)


async def test_package_admin_deletes_a_package_with_its_tags_and_manifests(api: Api) -> None:
    await api.push("acme/web/api", "v1")
    response = await api.delete("/packages/acme/web/api", "admin")
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await api.get("/packages/acme/web/api", "admin"), 404)
    assert await api.rows("SELECT * FROM packages WHERE name = :n", n="acme/web/api") == []
    assert await api.rows("SELECT * FROM tags") == []
    assert await api.rows("SELECT * FROM manifests") == []
    assert await api.rows("SELECT * FROM package_blobs") == []
    assert await api.rows("SELECT * FROM blobs") != []  # the bytes go with garbage collection


async def test_writers_may_not_delete_packages(api: Api) -> None:
    body = assert_problem(await api.delete("/packages/acme/web/api", "writer"), 403)
    assert "needs admin" in body["detail"]


async def test_admin_scope_is_needed_to_delete_a_package(api: Api) -> None:
    response = await api.delete("/packages/acme/web/api", "owner", scope="write:package")
    body = assert_problem(response, 403)
    assert "admin:package" in body["detail"]


async def test_deleting_an_unreadable_package_is_404(api: Api) -> None:
    assert_problem(await api.delete("/packages/acme/web/api", "member"), 404)


async def test_deleting_anonymously_is_401(api: Api) -> None:
    assert_problem(await api.delete("/packages/acme/site/www"), 401)


async def test_access_token_with_admin_scope_creates_a_package_in_its_repository(
    api: Api,
) -> None:
    robot = {"Authorization": f"Bearer {await api.access_token('acme/web', 'admin:package')}"}
    body = {"name": "acme/web/worker", "repository": "acme/web"}
    assert (await api.post("/packages", headers=robot, json=body)).status_code == 201
    elsewhere = {"name": "acme/site/worker", "repository": "acme/site"}
    assert_problem(await api.post("/packages", headers=robot, json=elsewhere), 403)
