"""`record` appends one event in the caller's transaction, as the current actor."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cargohold.config import Settings
from cargohold.services.context import Context, open_context
from cargohold.services.events import actors, outbox

NOW = 1_800_000_000.0


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[Context]:
    context = open_context(Settings(data_dir=tmp_path, auth="none"))
    yield context
    await context.db.close()


async def _events(ctx: Context) -> list[dict[str, Any]]:
    return [dict(row) for row in await ctx.db.fetchall("SELECT * FROM events ORDER BY id")]


async def test_an_event_names_the_actor_the_request_identified(ctx: Context) -> None:
    token = actors.begin_request("192.0.2.7", "req-1")
    try:
        actors.identify(actors.USER, id="3", name="alice@example.com")
        async with ctx.db.transaction() as tx:
            await outbox.record(tx, "tag.deleted", package="acme/web", tag="v1", at=NOW)
    finally:
        actors.end(token)
    [event] = await _events(ctx)
    assert event["action"] == "tag.deleted"
    assert event["outcome"] == "ok"
    assert (event["actor_kind"], event["actor_id"], event["actor_name"]) == (
        "user",
        "3",
        "alice@example.com",
    )
    assert (event["client_address"], event["request_id"]) == ("192.0.2.7", "req-1")
    assert (event["workspace"], event["package"], event["tag"]) == ("acme", "acme/web", "v1")
    assert event["at"] == NOW


async def test_without_a_request_the_system_acts(ctx: Context) -> None:
    async with ctx.db.transaction() as tx:
        await outbox.record(tx, "gc.deleted")
    [event] = await _events(ctx)
    assert (event["actor_kind"], event["actor_name"], event["client_address"]) == (
        "system",
        None,
        None,
    )


async def test_a_rolled_back_change_leaves_no_event(ctx: Context) -> None:
    with pytest.raises(RuntimeError):
        async with ctx.db.transaction() as tx:
            await tx.execute("INSERT INTO packages (name, created_at) VALUES ('a/b', 0)")
            await outbox.record(tx, "package.created", package="a/b")
            raise RuntimeError("the change fails after its event was written")
    assert await _events(ctx) == []
    assert await ctx.db.fetchall("SELECT * FROM packages") == []


async def test_data_is_json_and_names_the_personal_token_a_person_used(ctx: Context) -> None:
    token = actors.begin_request(None, None)
    try:
        actors.identify(actors.USER, id="3", name="alice@example.com", token_id="abc")
        async with ctx.db.transaction() as tx:
            await outbox.record(tx, "manifest.pushed", data={"size": 10, "media_type": "x"})
    finally:
        actors.end(token)
    [event] = await _events(ctx)
    assert json.loads(event["data"]) == {"media_type": "x", "size": 10, "token_id": "abc"}


async def test_overlong_values_are_cut_never_refused(ctx: Context) -> None:
    async with ctx.db.transaction() as tx:
        await outbox.record(
            tx,
            "signin.failed",
            outcome=outbox.REFUSED,
            actor=actors.Actor(actors.ANONYMOUS, name="x" * 1000 + "\ud800"),
        )
    [event] = await _events(ctx)
    assert len(event["actor_name"]) == 320


async def test_ids_only_grow_even_after_every_event_was_pruned(ctx: Context) -> None:
    async with ctx.db.transaction() as tx:
        await outbox.record(tx, "a.one", at=NOW)
        await outbox.record(tx, "a.two", at=NOW)
    last = (await _events(ctx))[-1]["id"]
    async with ctx.db.transaction() as tx:
        assert await outbox.prune(tx, before=NOW + 1) == 2
        await outbox.record(tx, "a.three", at=NOW + 2)
    [event] = await _events(ctx)
    assert event["id"] > last
