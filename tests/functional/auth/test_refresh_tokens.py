"""Refresh tokens (`offline_token=true`, `access_type=offline`) are revocable: each is a row
with an id and a hash of its secret, listed with its person's tokens, ended by them, by a
password change, and refused while password login is off when a password made it."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from cargohold.services.accounts import directory
from tests.functional.auth.world import PASSWORD, PRIVATE, World, email
from tests.functional.registry import Registry


async def _password_login(registry: Registry, who: str = "read") -> str:
    """`docker login` with a password: POST /token asking for an offline token."""
    response = await registry.client.post(
        "/token",
        data={
            "grant_type": "password",
            "username": email(who),
            "password": PASSWORD,
            "access_type": "offline",
            "client_id": "docker",
            "service": "cargohold",
        },
    )
    assert response.status_code == 200, response.text
    refresh: str = response.json()["refresh_token"]
    return refresh


async def _refresh(registry: Registry, refresh: str) -> httpx.Response:
    return await registry.client.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "service": "cargohold",
            "scope": f"repository:{PRIVATE}:pull",
        },
    )


async def _listed(registry: Registry, world: World, who: str = "read") -> list[dict[str, Any]]:
    secret = world.credential(who, "admin").secret
    response = await registry.client.get(
        "/api/v1/user/tokens", headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_refresh_token_has_an_id_and_only_a_hash_of_its_secret_is_stored(
    registry: Registry, world: World
) -> None:
    refresh = await _password_login(registry)
    prefix, refresh_id, secret = refresh.split("_", 2)
    assert prefix == "chr"
    rows = await registry.context.db.fetchall("SELECT * FROM sessions WHERE kind = 'refresh'")
    assert [row["id"] for row in rows] == [refresh_id]
    assert rows[0]["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str([dict(row) for row in rows])
    assert (await _refresh(registry, refresh)).status_code == 200


async def test_a_password_refresh_token_is_refused_once_password_login_is_off(
    registry: Registry, world: World
) -> None:
    refresh = await _password_login(registry)
    ctx = registry.context
    ctx.settings = ctx.settings.model_copy(update={"password_login": False})
    refused = await _refresh(registry, refresh)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_grant"


async def test_a_password_change_ends_the_persons_refresh_tokens(
    registry: Registry, world: World
) -> None:
    refresh = await _password_login(registry)
    db = registry.context.db
    person = await directory.find_user(db, email("read"))
    await directory.set_password(db, user=person, password="a brand new passphrase")
    assert (await _refresh(registry, refresh)).status_code == 401


async def test_refresh_tokens_are_listed_with_the_persons_tokens_and_revoked_by_id(
    registry: Registry, world: World
) -> None:
    refresh = await _password_login(registry)
    assert (await _refresh(registry, refresh)).status_code == 200
    listed = [item for item in await _listed(registry, world) if item["kind"] == "refresh"]
    assert len(listed) == 1
    item = listed[0]
    assert item["id"] == refresh.split("_")[1]
    assert item["name"] == "refresh token from a password login"
    assert item["created_at"] and item["last_used_at"] and item["expires_at"]
    assert refresh.split("_", 2)[2] not in str(item)

    secret = world.credential("read", "admin").secret
    revoked = await registry.client.delete(
        f"/api/v1/user/tokens/{item['id']}", headers={"Authorization": f"Bearer {secret}"}
    )
    assert revoked.status_code == 204
    assert (await _refresh(registry, refresh)).status_code == 401
    assert [i for i in await _listed(registry, world) if i["kind"] == "refresh"] == []


async def test_a_refresh_token_made_with_an_api_token_is_listed_with_its_scopes(
    registry: Registry, world: World
) -> None:
    credential = world.credential("write", "write")
    response = await registry.client.get(
        "/token", params={"offline_token": "true"}, headers=credential.basic
    )
    assert response.status_code == 200, response.text
    listed = [i for i in await _listed(registry, world, "write") if i["kind"] == "refresh"]
    assert [
        (i["name"].startswith("refresh token from API token"), i["scopes"]) for i in listed
    ] == [(True, ["write:package"])]


async def test_nobody_else_revokes_your_refresh_token(registry: Registry, world: World) -> None:
    refresh = await _password_login(registry)
    other = world.credential("owner", "admin").secret
    response = await registry.client.delete(
        f"/api/v1/user/tokens/{refresh.split('_')[1]}",
        headers={"Authorization": f"Bearer {other}"},
    )
    assert response.status_code == 404
    assert (await _refresh(registry, refresh)).status_code == 200
