"""The audit log's reads: newest first, filtered, paged by id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cargohold.config import Settings
from cargohold.services.context import Context, open_context
from cargohold.services.events import actors, audit, outbox
from cargohold.services.events.audit import Filters

NOW = 1_800_000_000.0


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[Context]:
    context = open_context(Settings(data_dir=tmp_path, auth="none"))
    alice = actors.Actor(actors.USER, id="1", name="alice@example.com")
    bob = actors.Actor(actors.USER, id="2", name="bob@example.com")
    async with context.db.transaction() as tx:
        for i, (action, who, package) in enumerate(
            [
                ("package.created", alice, "acme/web"),
                ("manifest.pushed", bob, "acme/web"),
                ("tag.moved", bob, "acme/web"),
                ("tag.deleted", alice, "acme/api"),
                ("package.created", alice, "globex/app"),
            ]
        ):
            await outbox.record(tx, action, package=package, actor=who, at=NOW + i)
    yield context
    await context.db.close()


async def _actions(ctx: Context, workspace: str | None = "acme", **filters: Any) -> list[str]:
    found, _ = await audit.list_events(
        ctx.db, workspace=workspace, filters=Filters(**filters), limit=100
    )
    return [event.action for event in found]


async def test_a_workspace_reads_its_own_events_newest_first(ctx: Context) -> None:
    assert await _actions(ctx) == ["tag.deleted", "tag.moved", "manifest.pushed", "package.created"]


async def test_the_site_reads_every_event(ctx: Context) -> None:
    assert len(await _actions(ctx, workspace=None)) == 5


async def test_filters_narrow_by_actor_action_family_package_and_time(ctx: Context) -> None:
    assert await _actions(ctx, actor="bob@example.com") == ["tag.moved", "manifest.pushed"]
    assert await _actions(ctx, actor="2") == ["tag.moved", "manifest.pushed"]
    assert await _actions(ctx, action="tag") == ["tag.deleted", "tag.moved"]
    assert await _actions(ctx, action="tag.*") == ["tag.deleted", "tag.moved"]
    assert await _actions(ctx, action="tag.moved") == ["tag.moved"]
    assert await _actions(ctx, package="acme/api") == ["tag.deleted"]
    assert await _actions(ctx, since=NOW + 1, until=NOW + 3) == ["tag.moved", "manifest.pushed"]


async def test_pages_follow_each_other_by_id(ctx: Context) -> None:
    seen: list[str] = []
    after = None
    while True:
        page, after = await audit.list_events(
            ctx.db, workspace=None, filters=Filters(), limit=2, after=after
        )
        seen += [event.action for event in page]
        if after is None:
            break
    assert len(seen) == 5 and seen[0] == "package.created" and seen[-1] == "package.created"
