"""One principal may hold `max_open_uploads` upload sessions open: a person counts once
across all their tokens (Basic or bearer), an access token counts for itself."""

from __future__ import annotations

import httpx
import pytest

from tests.functional.auth.world import PRIVATE, Credential, World
from tests.functional.registry import Registry, error_code

START = f"/v2/{PRIVATE}/blobs/uploads/"


async def bearer(registry: Registry, credential: Credential) -> dict[str, str]:
    answer = await registry.client.get(
        "/token",
        params={"service": "cargohold", "scope": f"repository:{PRIVATE}:pull,push"},
        headers=credential.basic,
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


async def start(registry: Registry, headers: dict[str, str]) -> httpx.Response:
    return await registry.client.post(START, headers=headers)


@pytest.mark.settings(max_open_uploads=2)
async def test_open_sessions_are_capped_per_person_across_their_tokens(
    registry: Registry, world: World
) -> None:
    one, another = world.credential("write", "write"), world.credential("write", "admin")

    opened = [
        await start(registry, one.basic),
        await start(registry, await bearer(registry, another)),
    ]
    refused = await start(registry, one.basic)
    refused_too = await start(registry, await bearer(registry, another))
    owner = await start(registry, world.credential("owner", "write").basic)
    robot = await start(registry, world.credential("robot", "write").basic)

    assert [r.status_code for r in opened] == [202, 202]
    assert refused.status_code == refused_too.status_code == 429
    assert error_code(refused) == "TOOMANYREQUESTS"
    assert "retry-after" in refused.headers
    assert owner.status_code == 202
    assert robot.status_code == 202
