"""Every case of the management API's part of the authorization matrix (api_matrix.py)
through the app: the status the table says, and a refused call changes nothing.

The calls that must change nothing (refusals and reads) of one operation run one after
another on one copy of the world, each checked on its own; each allowed change gets a
copy of its own."""

from __future__ import annotations

import pytest

from tests.functional.auth.api_matrix import (
    API_CALLERS,
    API_OPERATIONS,
    api_expected,
    api_headers,
    api_path,
    perform_api,
    state,
)
from tests.functional.auth.world import World
from tests.functional.registry import Registry


def _changes(who: str, operation: str) -> bool:
    return api_expected(who, operation) < 400 and API_OPERATIONS[operation].changes


CHANGES = [
    (who, operation)
    for operation in API_OPERATIONS
    for who in API_CALLERS
    if _changes(who, operation)
]


async def _setup(registry: Registry, world: World, operation: str) -> None:
    for method, path, body in API_OPERATIONS[operation].setup:
        made = await registry.client.request(
            method, api_path(world, path), json=body, headers=api_headers(world, "site_admin")
        )
        assert made.status_code < 300, made.text


@pytest.mark.parametrize("operation", list(API_OPERATIONS))
async def test_api_refusals_and_reads_change_nothing(
    registry: Registry, world: World, operation: str
) -> None:
    """Every caller who may not make the change, or only reads, gets the status of the
    table, and the rows stay as they were."""
    await _setup(registry, world, operation)
    before = await state(registry.context)
    wrong = []
    for who in API_CALLERS:
        if _changes(who, operation):
            continue
        response = await perform_api(registry.client, world, operation, api_headers(world, who))
        status = api_expected(who, operation)
        if response.status_code != status:
            wrong.append(f"{who}: {response.status_code} (not {status}) {response.text[:200]}")
        elif status == 401 and not response.headers["www-authenticate"].startswith("Bearer "):
            wrong.append(f"{who}: 401 without a Bearer challenge")
        if await state(registry.context) != before:
            wrong.append(f"{who}: the call changed rows")
            before = await state(registry.context)
    assert wrong == []


@pytest.mark.parametrize(
    ("who", "operation"), CHANGES, ids=[f"{who}-{operation}" for who, operation in CHANGES]
)
async def test_api_allowed_changes(
    registry: Registry, world: World, who: str, operation: str
) -> None:
    """Every caller who may make the change makes it."""
    await _setup(registry, world, operation)
    before = await state(registry.context)
    response = await perform_api(registry.client, world, operation, api_headers(world, who))
    assert response.status_code == api_expected(who, operation), response.text
    assert await state(registry.context) != before
