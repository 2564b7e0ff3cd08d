"""Every case of the web UI's part of the authorization matrix (ui_matrix.py) through the
app: the page, the redirect to sign in or the refusal the table says, and a refused form
changes nothing.

The requests that must change nothing (refusals and pages) of one operation run one after
another on one copy of the world, each checked on its own; each allowed change gets a
copy of its own."""

from __future__ import annotations

import httpx
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

HOOKS = {
    "webhook_allowed_networks": ["127.0.0.0/8"],
    "replication_allowed_networks": ["127.0.0.0/8"],
}


def _changes(who: str, operation: str) -> bool:
    return ui_expected(who, operation) == OK and UI_OPERATIONS[operation].changes


CHANGES = [
    (who, operation)
    for operation in UI_OPERATIONS
    for who in UI_CALLERS
    if _changes(who, operation)
]


def _mismatch(who: str, operation: str, response: httpx.Response) -> str | None:
    """What is wrong with the answer to `who`, if anything."""
    want = ui_expected(who, operation)
    location = response.headers.get("location", "")
    got = f"{who}: {response.status_code} {location}"
    if want == SIGN_IN:
        signs_in = location == "/sign-in" or location.startswith("/sign-in?next=")
        return None if response.status_code == 303 and signs_in else f"{got}, not sign-in"
    if want == OK:
        allowed = UI_OPERATIONS[operation].allowed
        fine = response.status_code == allowed and not location.startswith("/sign-in")
        return None if fine else f"{got}, not {allowed}"
    return None if response.status_code == want else f"{got}, not {want}"


@pytest.mark.settings(**HOOKS)
@pytest.mark.parametrize("operation", list(UI_OPERATIONS))
async def test_ui_refusals_and_pages_change_nothing(
    registry: Registry, world: World, operation: str
) -> None:
    """Every caller who may not post the form, or opens a page, gets what the table says,
    and the rows stay as they were."""
    client, ctx = registry.client, registry.context
    made = await ui_setup(client, ctx, world)
    before = await state(ctx)
    wrong = []
    for who in UI_CALLERS:
        if _changes(who, operation):
            continue
        response = await perform_ui(client, ctx, world, who, operation, made)
        if (problem := _mismatch(who, operation, response)) is not None:
            wrong.append(problem)
        if await state(ctx) != before:
            wrong.append(f"{who}: the request changed rows")
            before = await state(ctx)
    assert wrong == []


@pytest.mark.settings(**HOOKS)
@pytest.mark.parametrize(
    ("who", "operation"), CHANGES, ids=[f"{who}-{operation}" for who, operation in CHANGES]
)
async def test_ui_allowed_changes(
    registry: Registry, world: World, who: str, operation: str
) -> None:
    """Every caller who may post the form makes the change."""
    client, ctx = registry.client, registry.context
    made = await ui_setup(client, ctx, world)
    before = await state(ctx)
    response = await perform_ui(client, ctx, world, who, operation, made)
    assert _mismatch(who, operation, response) is None, response.text
    assert await state(ctx) != before
