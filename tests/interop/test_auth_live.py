"""A slice of the authorization matrix against a live `cargohold serve --auth token`.

The whole matrix runs through the app in tests/functional/auth/test_matrix.py; this slice
checks that the same answers come out of a real server, over real HTTP. The server is
shared by the cases, so each case that may change the target puts it back afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.functional.auth.matrix import (
    OPERATIONS,
    Caller,
    caller_headers,
    changed_manifest,
    check,
    perform,
    uploaded,
)
from tests.functional.auth.world import PRIVATE, PUBLIC, World
from tests.functional.registry import digest_of

from ._support import TokenServer

pytestmark = pytest.mark.interop

SLICE = [
    Caller("anonymous", "none", None, PRIVATE),
    Caller("anonymous", "none", None, PUBLIC),
    Caller("anonymous", "jwt", None, PUBLIC),
    Caller("none", "token", "admin", PRIVATE),
    Caller("read", "jwt", "read", PRIVATE),
    Caller("write", "token", "write", PRIVATE),
    Caller("write", "jwt", "read", PRIVATE),
    Caller("admin", "jwt", "admin", PRIVATE),
    Caller("owner", "jwt_push", "admin", PRIVATE),
    Caller("other", "jwt", "admin", PRIVATE),
    Caller("robot", "jwt", "write", PRIVATE),
    Caller("owner", "token", "admin", PUBLIC),
]
# Failed logins are slowed down on purpose, so a revoked token is tried on a few operations.
CASES = [(caller, operation) for caller in SLICE for operation in OPERATIONS] + [
    (Caller("revoked", "token", None, PRIVATE), operation)
    for operation in ("pull_manifest", "push_blob", "delete_tag", "catalog")
]
CHANGES = {
    "push_manifest",
    "mount_readable",
    "mount_unreadable",
    "delete_tag",
    "delete_manifest",
    "delete_blob",
    "upload_finish",
}


@pytest.fixture
async def client(token_server: TokenServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=token_server.registry.url, timeout=30.0) as client:
        yield client


async def _restore(client: httpx.AsyncClient, world: World, target: str) -> None:
    """Undo whatever a case did to its target: the pushed manifest and mounted blobs go,
    the original image comes back."""
    admin = world.credential("site_admin").basic
    content = world.contents[target]
    pushed = digest_of(changed_manifest(world, target))
    for path in (
        f"/v2/{target}/manifests/{pushed}",
        f"/v2/{target}/blobs/{world.shared_blob}",
        f"/v2/{target}/blobs/{world.secret_blob}",
        f"/v2/{target}/blobs/{digest_of(uploaded(target))}",
    ):
        gone = await client.delete(path, headers=admin)
        assert gone.status_code in (202, 404), gone.text
    for blob in content.blobs:
        restored = await client.post(
            f"/v2/{target}/blobs/uploads/",
            params={"digest": digest_of(blob)},
            content=blob,
            headers=admin,
        )
        assert restored.status_code == 201, restored.text
    put = await client.put(
        f"/v2/{target}/manifests/v1",
        content=content.manifest,
        headers={**admin, "Content-Type": content.media_type},
    )
    assert put.status_code == 201, put.text


@pytest.mark.parametrize(
    ("caller", "operation"),
    CASES,
    ids=[f"{caller.id}-{operation}" for caller, operation in CASES],
)
async def test_live_matrix(
    client: httpx.AsyncClient, token_server: TokenServer, caller: Caller, operation: str
) -> None:
    world = token_server.world
    try:
        headers = await caller_headers(client, world, caller)
        response = await perform(client, world, caller.target, operation, headers)
        await check(client, world, caller, operation, response)
    finally:
        if operation in CHANGES:
            await _restore(client, world, caller.target)
