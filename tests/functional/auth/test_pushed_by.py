"""A tag remembers who last pushed it: a person's email, or an access token's name."""

from __future__ import annotations

import pytest

from tests.functional.auth.world import PRIVATE, Credential, World, bearer, email
from tests.functional.registry import Registry


async def _tag(registry: Registry, world: World, tag: str, headers: dict[str, str]) -> str | None:
    content = world.contents[PRIVATE]
    response = await registry.client.put(
        f"/v2/{PRIVATE}/manifests/{tag}",
        content=content.manifest,
        headers={"Content-Type": content.media_type, **headers},
    )
    assert response.status_code == 201, response.text
    row = await registry.context.db.fetchone(
        "SELECT t.pushed_by FROM tags t JOIN packages p ON p.id = t.package_id"
        " WHERE p.name = :p AND t.name = :t",
        {"p": PRIVATE, "t": tag},
    )
    assert row is not None
    pushed_by: str | None = row["pushed_by"]
    return pushed_by


async def test_a_push_with_basic_credentials_records_the_persons_email(
    registry: Registry, world: World
) -> None:
    credential = world.credential("write", "write")
    assert await _tag(registry, world, "v2", credential.basic) == email("write")


async def test_a_push_with_a_bearer_token_records_the_persons_email(
    registry: Registry, world: World
) -> None:
    credential = world.credential("write", "write")
    headers = await bearer(registry.client, credential, [f"repository:{PRIVATE}:pull,push"])
    assert await _tag(registry, world, "v3", headers) == email("write")


@pytest.mark.parametrize("robot", ["robot", "robot_ws"])
async def test_a_push_with_an_access_token_records_the_tokens_name(
    registry: Registry, world: World, robot: str
) -> None:
    credential: Credential = world.credential(robot, "write")
    pushed_by = await _tag(registry, world, "v4", credential.basic)
    assert pushed_by is not None and "access token" in pushed_by


async def test_moving_a_tag_records_the_new_pusher(registry: Registry, world: World) -> None:
    await _tag(registry, world, "v5", world.credential("write", "write").basic)
    assert await _tag(registry, world, "v5", world.credential("owner", "write").basic) == email(
        "owner"
    )
