"""Every case of the authorization matrix (see matrix.py) through the app."""

from __future__ import annotations

import pytest

from tests.functional.auth.matrix import (
    OPERATIONS,
    Caller,
    caller_headers,
    callers,
    check,
    observer,
    perform,
)
from tests.functional.auth.world import PRIVATE, VAULT, World
from tests.functional.registry import Registry, digest_of

CASES = [(caller, operation) for caller in callers() for operation in OPERATIONS]


@pytest.mark.parametrize(
    ("caller", "operation"),
    CASES,
    ids=[f"{caller.id}-{operation}" for caller, operation in CASES],
)
async def test_matrix(registry: Registry, world: World, caller: Caller, operation: str) -> None:
    headers = await caller_headers(registry.client, world, caller)
    response = await perform(registry.client, world, caller.target, operation, headers)
    await check(registry.client, world, caller, operation, response)


@pytest.mark.parametrize("via", ["token", "jwt"])
async def test_mount_from_an_unreadable_package_reveals_nothing(
    registry: Registry, world: World, via: str
) -> None:
    """Mounting a blob the caller may not read answers exactly like mounting a blob that
    exists nowhere: an upload session starts, and the blob stays out of the package."""
    caller = Caller("write", via, "write", PRIVATE)
    headers = await caller_headers(registry.client, world, caller)
    unknown = digest_of(b"exists nowhere")
    attempts = {
        "secret-from-its-package": {"mount": world.secret_blob, "from": VAULT},
        "unknown-from-that-package": {"mount": unknown, "from": VAULT},
        "secret-from-a-missing-package": {"mount": world.secret_blob, "from": "initech/nope"},
        "secret-without-from": {"mount": world.secret_blob},
        "unknown-without-from": {"mount": unknown},
    }
    answers = {}
    for label, params in attempts.items():
        response = await registry.client.post(
            f"/v2/{PRIVATE}/blobs/uploads/", params=params, headers=headers
        )
        assert response.status_code == 202, (label, response.text)
        location = response.headers["location"]
        assert location.startswith(f"/v2/{PRIVATE}/blobs/uploads/"), (label, location)
        answers[label] = (
            sorted(k for k in response.headers if k != "docker-upload-uuid"),
            response.headers["range"],
            response.content,
        )
    assert len({repr(answer) for answer in answers.values()}) == 1, answers
    status = await observer(registry.client, world, PRIVATE)
    assert await status(f"/v2/{PRIVATE}/blobs/{world.secret_blob}") == 404
