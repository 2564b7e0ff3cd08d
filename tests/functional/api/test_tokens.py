"""API tokens (yours) and access tokens (a repository's or a workspace's): the secret is
shown once, revoking works at once, and a token never makes a broader one."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from cargohold.config import Settings
from cargohold.metadata.schema import metadata
from tests import backends
from tests.functional.api.people import Api, assert_problem

NEW = {"name": "laptop", "scopes": ["read:package", "write:package"], "expires_in": "7d"}


async def test_create_shows_the_secret_once(api: Api) -> None:
    response = await api.post("/user/tokens", "reader", json=NEW)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["token"].startswith(f"chp_{created['id']}_")
    assert (created["name"], created["kind"], created["scopes"]) == (
        "laptop",
        "personal",
        ["read:package", "write:package"],
    )
    assert created["expires_at"] is not None and created["last_used_at"] is None
    listing = await api.get("/user/tokens", "reader")
    assert created["token"] not in listing.text
    assert created["token"].split("_", 2)[2] not in listing.text
    assert all("token" not in item for item in listing.json()["items"])


async def test_the_lifetime_asked_for_is_granted(api: Api) -> None:
    before = time.time()
    created = (await api.post("/user/tokens", "reader", json=NEW)).json()
    made, expires = (datetime.fromisoformat(created[k]) for k in ("created_at", "expires_at"))
    assert before - 5 <= made.timestamp() <= time.time() + 5
    assert abs(expires - made - timedelta(days=7)) <= timedelta(seconds=2), (made, expires)
    listed = (await api.get("/user/tokens", "reader")).json()["items"]
    assert [item["expires_at"] for item in listed if item["id"] == created["id"]] == [
        created["expires_at"]
    ]


async def test_only_a_hash_of_the_secret_is_stored(api: Api, settings: Settings) -> None:
    """docs/access.md: the secret is shown once; the database holds a hash of it only."""
    created = (await api.post("/user/tokens", "reader", json=NEW)).json()
    path = "/workspaces/acme/repositories/web/access-tokens"
    robot = (await api.post(path, "admin", json={"name": "ci", "scopes": ["read:package"]})).json()
    for made in (created, robot):
        headers = {"Authorization": f"Bearer {made['token']}"}
        assert (await api.get("/packages/acme/web/api", headers=headers)).status_code == 200
    secrets = [made["token"].split("_", 2)[2] for made in (created, robot)]
    assert all(len(secret) >= 32 for secret in secrets)
    found = []
    for table in metadata.sorted_tables:
        for row in await api.rows(f"SELECT * FROM {table.name}"):
            for column, value in row.items():
                text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                found += [f"{table.name}.{column}" for secret in secrets if secret in text]
    assert found == [], "a token's secret is stored in the clear"
    if backends.test_backend() != "postgres-s3":  # every byte SQLite wrote: file, journal, WAL
        for file in settings.sqlite_path.parent.glob(settings.sqlite_path.name + "*"):
            data = file.read_bytes()
            assert not any(secret.encode() in data for secret in secrets), file


async def test_a_new_token_works_at_once(api: Api) -> None:
    secret = (await api.post("/user/tokens", "reader", json=NEW)).json()["token"]
    response = await api.get("/user", headers={"Authorization": f"Bearer {secret}"})
    assert response.json()["token_scopes"] == ["read:package", "write:package"]


async def test_list_shows_created_last_used_and_expiry(api: Api) -> None:
    await api.get("/user", "reader")
    items = (await api.get("/user/tokens", "reader")).json()["items"]
    assert len(items) == 1
    assert items[0]["last_used_at"] is not None
    assert items[0]["created_at"] <= items[0]["last_used_at"]
    assert items[0]["expires_at"] is not None
    assert items[0]["revoked_at"] is None


async def test_list_shows_only_your_tokens(api: Api) -> None:
    await api.token("owner")
    items = (await api.get("/user/tokens", "reader")).json()["items"]
    assert [item["name"] for item in items] == ["reader admin:package"]


async def test_revoke_refuses_the_token_at_once(api: Api) -> None:
    created = (await api.post("/user/tokens", "reader", json=NEW)).json()
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert (await api.get("/user", headers=headers)).status_code == 200
    response = await api.delete(f"/user/tokens/{created['id']}", "reader")
    assert response.status_code == 204
    assert_problem(await api.get("/user", headers=headers), 401)
    items = (await api.get("/user/tokens", "reader")).json()["items"]
    assert next(i for i in items if i["id"] == created["id"])["revoked_at"] is not None


async def test_revoking_someone_elses_token_is_404(api: Api) -> None:
    token_id = (await api.token("owner")).split("_")[1]
    assert_problem(await api.delete(f"/user/tokens/{token_id}", "reader"), 404)
    assert (await api.get("/user", "owner")).status_code == 200


async def test_tokens_need_admin_scope_to_make_tokens(api: Api) -> None:
    response = await api.post("/user/tokens", "reader", scope="write:package", json=NEW)
    assert "admin:package" in assert_problem(response, 403)["detail"]


async def test_unknown_scope_is_422(api: Api) -> None:
    body = {**NEW, "scopes": ["root"]}
    assert_problem(await api.post("/user/tokens", "reader", json=body), 422)


async def test_expiry_beyond_the_sites_limit_is_422(api: Api) -> None:
    body = {**NEW, "expires_in": "2y"}
    assert (
        "365 days"
        in assert_problem(await api.post("/user/tokens", "reader", json=body), 422)["detail"]
    )


async def test_tokens_without_expiry_are_refused_by_default(api: Api) -> None:
    body = {**NEW, "expires_in": "never"}
    assert_problem(await api.post("/user/tokens", "reader", json=body), 422)


@pytest.mark.settings(allow_tokens_without_expiry=True)
async def test_tokens_without_expiry_where_the_site_allows_them(api: Api) -> None:
    body = {**NEW, "expires_in": "never"}
    response = await api.post("/user/tokens", "reader", json=body)
    assert response.status_code == 201
    assert response.json()["expires_at"] is None


async def test_repository_admin_makes_an_access_token(api: Api) -> None:
    path = "/workspaces/acme/repositories/web/access-tokens"
    response = await api.post(path, "admin", json={"name": "ci", "scopes": ["write:package"]})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["kind"] == "repository"
    assert created["token"].startswith(f"cha_{created['id']}_")
    robot = {"Authorization": f"Bearer {created['token']}"}
    assert (await api.get("/packages/acme/web/api", headers=robot)).json()["role"] == "write"
    assert_problem(await api.get("/packages/globex/app", headers=robot), 404)
    listing = await api.get(path, "admin")
    assert [t["name"] for t in listing.json()["items"]] == ["ci"]
    assert created["token"] not in listing.text


async def test_writers_may_not_make_access_tokens(api: Api) -> None:
    path = "/workspaces/acme/repositories/web/access-tokens"
    response = await api.post(path, "writer", json={"name": "ci", "scopes": ["read:package"]})
    assert_problem(response, 403)


async def test_revoking_an_access_token_refuses_it_at_once(api: Api) -> None:
    path = "/workspaces/acme/repositories/web/access-tokens"
    created = (
        await api.post(path, "admin", json={"name": "ci", "scopes": ["read:package"]})
    ).json()
    robot = {"Authorization": f"Bearer {created['token']}"}
    assert (await api.get("/packages/acme/web/api", headers=robot)).status_code == 200
    assert (await api.delete(f"{path}/{created['id']}", "admin")).status_code == 204
    assert_problem(await api.get("/packages/acme/web/api", headers=robot), 401)


async def test_owner_makes_a_workspace_access_token(api: Api) -> None:
    path = "/workspaces/acme/access-tokens"
    response = await api.post(path, "owner", json={"name": "deploy", "scopes": ["read:package"]})
    assert response.status_code == 201
    assert response.json()["kind"] == "workspace"
    robot = {"Authorization": f"Bearer {response.json()['token']}"}
    assert (await api.get("/packages/acme/web/db", headers=robot)).json()["role"] == "read"
    assert [t["name"] for t in (await api.get(path, "owner")).json()["items"]] == ["deploy"]


async def test_workspace_access_tokens_need_an_owner(api: Api) -> None:
    body = {"name": "deploy", "scopes": ["read:package"]}
    assert_problem(await api.post("/workspaces/acme/access-tokens", "member", json=body), 403)
    assert_problem(await api.post("/workspaces/acme/access-tokens", "admin", json=body), 404)


async def test_revoking_another_workspaces_token_is_404(api: Api) -> None:
    token_id = (await api.access_token("globex", "read:package")).split("_")[1]
    assert_problem(await api.delete(f"/workspaces/acme/access-tokens/{token_id}", "owner"), 404)
