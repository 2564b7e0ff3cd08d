"""Every case of the management API's part of the authorization matrix (api_matrix.py)
through the app: the status the table says, and a refused call changes nothing."""

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

CASES = [(who, operation) for operation in API_OPERATIONS for who in API_CALLERS]


@pytest.mark.parametrize(
    ("who", "operation"), CASES, ids=[f"{who}-{operation}" for who, operation in CASES]
)
async def test_api_matrix(registry: Registry, world: World, who: str, operation: str) -> None:
    client, ctx = registry.client, registry.context
    found = API_OPERATIONS[operation]
    for method, path, body in found.setup:
        made = await client.request(
            method, api_path(world, path), json=body, headers=api_headers(world, "site_admin")
        )
        assert made.status_code < 300, made.text
    before = await state(ctx)
    response = await perform_api(client, world, operation, api_headers(world, who))
    status = api_expected(who, operation)
    assert response.status_code == status, response.text
    after = await state(ctx)
    if status >= 400 or not found.changes:
        assert after == before
    else:
        assert after != before
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer ")
