"""Every case of the web UI's part of the authorization matrix (ui_matrix.py) through the
app: the page, the redirect to sign in or the refusal the table says, and a refused form
changes nothing."""

from __future__ import annotations

import pytest

from tests.functional.auth.api_matrix import state
from tests.functional.auth.ui_matrix import (
    OK,
    SIGN_IN,
    UI_CALLERS,
    UI_OPERATIONS,
    perform_ui,
    ui_expected,
    ui_setup,
)
from tests.functional.auth.world import World
from tests.functional.registry import Registry

CASES = [(who, operation) for operation in UI_OPERATIONS for who in UI_CALLERS]


@pytest.mark.settings(
    webhook_allowed_networks=["127.0.0.0/8"], replication_allowed_networks=["127.0.0.0/8"]
)
@pytest.mark.parametrize(
    ("who", "operation"), CASES, ids=[f"{who}-{operation}" for who, operation in CASES]
)
async def test_ui_matrix(registry: Registry, world: World, who: str, operation: str) -> None:
    client, ctx = registry.client, registry.context
    made = await ui_setup(client, ctx, world)
    found = UI_OPERATIONS[operation]
    before = await state(ctx)
    response = await perform_ui(client, ctx, world, who, operation, made)
    want = ui_expected(who, operation)
    location = response.headers.get("location", "")
    if want == SIGN_IN:
        assert response.status_code == 303, response.text
        assert location == "/sign-in" or location.startswith("/sign-in?next="), location
    elif want == OK:
        assert response.status_code == found.allowed, response.text
        assert not location.startswith("/sign-in"), location
    else:
        assert response.status_code == want, response.text
    after = await state(ctx)
    if want != OK or not found.changes:
        assert after == before
    else:
        assert after != before
