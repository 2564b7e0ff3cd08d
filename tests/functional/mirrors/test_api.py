"""/api/v1/workspaces/{ws}/mirrors: creating, reading, changing and deleting mirrors, who may,
and the upstreams refused. No upstream needs to answer here: creating a mirror only checks
where its host resolves to."""

from __future__ import annotations

import pytest

from tests.functional.api.people import Api, assert_problem

BASE = "/workspaces/acme/mirrors"
UPSTREAM = "http://127.0.0.1:5999"


async def test_an_owner_creates_a_mirror_and_its_password_is_never_shown(api: Api) -> None:
    body = {"prefix": "hub", "upstream": UPSTREAM, "username": "u", "password": "pw-123456"}
    response = await api.post(BASE, "owner", json=body)
    assert response.status_code == 201, response.text
    made = response.json()
    assert response.headers["location"] == f"/api/v1{BASE}/hub"
    assert (made["name"], made["upstream"], made["username"]) == ("acme/hub", UPSTREAM, "u")
    assert made["has_password"] is True and "password" not in made
    assert made["created_by"] == "owner@example.com"
    shown = (await api.get(f"{BASE}/hub", "owner")).json()
    assert (await api.get(BASE, "owner")).json()["items"] == [shown]
    assert "pw-123456" not in str(shown)


async def test_the_password_is_sealed_at_rest(api: Api) -> None:
    body = {"prefix": "hub", "upstream": UPSTREAM, "username": "u", "password": "pw-123456"}
    assert (await api.post(BASE, "owner", json=body)).status_code == 201
    [row] = await api.rows("SELECT password FROM mirrors")
    assert row["password"].startswith("v1.") and "pw-123456" not in row["password"]


async def test_a_mirror_links_its_packages_to_a_repository_made_for_it(api: Api) -> None:
    made = (await api.post(BASE, "owner", json={"prefix": "hub", "upstream": UPSTREAM})).json()
    assert made["repository"] == "acme/hub"
    [row] = await api.rows(
        "SELECT r.is_public, p.key FROM repositories r JOIN projects p ON p.id = r.project_id"
        " WHERE r.slug = 'hub'"
    )
    assert (bool(row["is_public"]), row["key"]) == (False, "MIRRORS")


async def test_a_mirror_may_link_to_an_existing_repository(api: Api) -> None:
    body = {"prefix": "hub", "upstream": UPSTREAM, "repository": "site"}
    made = (await api.post(BASE, "owner", json=body)).json()
    assert made["repository"] == "acme/site"


async def test_creating_and_deleting_a_mirror_are_events_of_the_audit_log(api: Api) -> None:
    body = {"prefix": "hub", "upstream": UPSTREAM, "username": "u", "password": "pw-123456"}
    assert (await api.post(BASE, "owner", json=body)).status_code == 201
    assert (await api.delete(f"{BASE}/hub", "owner")).status_code == 204
    rows = await api.rows(
        "SELECT action, workspace, actor_name, data FROM events WHERE action LIKE 'mirror.%'"
        " ORDER BY id"
    )
    assert [row["action"] for row in rows] == ["mirror.created", "mirror.deleted"]
    assert all(row["actor_name"] == "owner@example.com" for row in rows)
    assert all("pw-123456" not in row["data"] for row in rows)
    assert (await api.get(f"{BASE}/hub", "owner")).status_code == 404


async def test_changing_a_mirror(api: Api) -> None:
    body = {"prefix": "hub", "upstream": UPSTREAM, "username": "u", "password": "pw-123456"}
    assert (await api.post(BASE, "owner", json=body)).status_code == 201
    response = await api.patch(f"{BASE}/hub", "owner", json={"tag_ttl": 60})
    assert response.status_code == 200, response.text
    assert (response.json()["tag_ttl"], response.json()["has_password"]) == (60, True)
    dropped = await api.patch(f"{BASE}/hub", "owner", json={"username": None, "password": None})
    assert (dropped.json()["username"], dropped.json()["has_password"]) == (None, False)
    [event] = await api.rows("SELECT data FROM events WHERE action = 'mirror.changed' LIMIT 1")
    assert "tag_ttl" in event["data"]


async def test_a_username_without_its_password_is_refused(api: Api) -> None:
    assert (await api.post(BASE, "owner", json={"prefix": "hub", "upstream": UPSTREAM})).is_success
    response = await api.patch(f"{BASE}/hub", "owner", json={"username": "someone"})
    assert "password" in assert_problem(response, 422)["detail"]


async def test_members_see_mirrors_and_only_owners_change_them(api: Api) -> None:
    assert (await api.post(BASE, "owner", json={"prefix": "hub", "upstream": UPSTREAM})).is_success
    assert (await api.get(BASE, "member")).status_code == 200
    assert_problem(await api.post(BASE, "member", json={"prefix": "q", "upstream": UPSTREAM}), 403)
    assert_problem(await api.delete(f"{BASE}/hub", "member"), 403)
    assert_problem(await api.get(BASE, "outsider"), 404)
    assert_problem(await api.get(f"{BASE}/hub", "other"), 404)


async def test_a_second_mirror_with_the_same_prefix_is_a_conflict(api: Api) -> None:
    body = {"prefix": "hub", "upstream": UPSTREAM}
    assert (await api.post(BASE, "owner", json=body)).status_code == 201
    assert_problem(await api.post(BASE, "owner", json=body), 409)


@pytest.mark.parametrize(
    ("upstream", "says"),
    [
        ("http://registry.example.com", "loopback"),
        ("https://127.0.0.1:5000/some/path", "base URL"),
        ("https://user:pw@127.0.0.1:5000", "base URL"),
        ("ftp://127.0.0.1", "https://"),
        ("https://10.1.2.3", "private"),
        ("https://169.254.169.254", "metadata"),
    ],
)
async def test_an_upstream_the_guard_refuses_is_422(api: Api, upstream: str, says: str) -> None:
    response = await api.post(BASE, "owner", json={"prefix": "hub", "upstream": upstream})
    assert says in assert_problem(response, 422)["detail"]


@pytest.mark.parametrize("prefix", ["Hub", "a/b", "-x", "x" * 65])
async def test_a_prefix_that_is_not_one_name_component_is_422(api: Api, prefix: str) -> None:
    response = await api.post(BASE, "owner", json={"prefix": prefix, "upstream": UPSTREAM})
    assert_problem(response, 422)


async def test_changing_the_upstream_passes_the_guard_again(api: Api) -> None:
    assert (await api.post(BASE, "owner", json={"prefix": "hub", "upstream": UPSTREAM})).is_success
    moved = await api.patch(f"{BASE}/hub", "owner", json={"upstream": "http://127.0.0.1:6000/"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["upstream"] == "http://127.0.0.1:6000"
    refused = await api.patch(f"{BASE}/hub", "owner", json={"upstream": "https://10.0.0.1"})
    assert "private" in assert_problem(refused, 422)["detail"]
    assert (await api.get(f"{BASE}/hub", "owner")).json()["upstream"] == "http://127.0.0.1:6000"
