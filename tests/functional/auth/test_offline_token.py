"""The OAuth2 form of /token with `access_type=offline` (docs/access.md): `POST /token`
answers with a refresh token, and exchanging that refresh token (`grant_type=refresh_token`)
yields an access token that works on /v2. Only what the documentation promises is checked,
not what a refresh token looks like."""

from __future__ import annotations

from typing import Any

from tests.functional.auth.world import PRIVATE, World
from tests.functional.registry import Registry, digest_of, random_blob

CLIENT_ID = "cargohold-tests"


async def _password_grant(registry: Registry, world: World, **extra: str) -> dict[str, Any]:
    credential = world.credential("write", "write")
    form = {
        "grant_type": "password",
        "username": credential.username,
        "password": credential.secret,
        "service": "cargohold",
        "client_id": CLIENT_ID,
        "scope": f"repository:{PRIVATE}:pull",
        **extra,
    }
    response = await registry.client.post("/token", data=form)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_access_type_offline_returns_a_refresh_token_that_yields_access(
    registry: Registry, world: World
) -> None:
    login = await _password_grant(registry, world, access_type="offline")
    refresh = login.get("refresh_token")
    assert isinstance(refresh, str) and refresh, login

    exchanged = await registry.client.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "service": "cargohold",
            "client_id": CLIENT_ID,
            "scope": f"repository:{PRIVATE}:pull,push",
        },
    )
    assert exchanged.status_code == 200, exchanged.text
    access = exchanged.json()["access_token"]
    assert isinstance(access, str) and access != refresh

    listed = await registry.client.get(f"/v2/{PRIVATE}/tags/list", headers=_bearer(access))
    assert listed.status_code == 200, listed.text
    assert "v1" in listed.json()["tags"]
    data = random_blob(256)
    pushed = await registry.client.post(
        f"/v2/{PRIVATE}/blobs/uploads/",
        params={"digest": digest_of(data)},
        content=data,
        headers=_bearer(access),
    )
    assert pushed.status_code == 201, pushed.text


async def test_without_access_type_offline_there_is_no_refresh_token(
    registry: Registry, world: World
) -> None:
    login = await _password_grant(registry, world)
    assert "refresh_token" not in login
    assert (
        await registry.client.get("/v2/", headers=_bearer(login["access_token"]))
    ).status_code == 200
