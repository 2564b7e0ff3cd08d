"""Pulls are counted in memory and written in one upsert per package, tag and day."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cargohold.config import Settings
from cargohold.services.context import Context, open_context
from cargohold.services.events import downloads
from cargohold.services.events.downloads import DAY, DownloadCounter

NOW = 1_800_000_000.0


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[Context]:
    context = open_context(Settings(data_dir=tmp_path, auth="none"))
    async with context.db.transaction() as tx:
        await tx.execute("INSERT INTO packages (name, created_at) VALUES ('acme/web', 0)")
    yield context
    await context.db.close()


async def _rows(ctx: Context) -> list[tuple[str, int, int]]:
    rows = await ctx.db.fetchall("SELECT tag, day, count FROM downloads ORDER BY tag, day")
    return [(row["tag"], row["day"], row["count"]) for row in rows]


async def test_counting_a_pull_writes_nothing_until_the_flush(ctx: Context) -> None:
    counter = DownloadCounter()
    for _ in range(3):
        counter.count("acme/web", "v1", NOW)
    assert await _rows(ctx) == []
    assert await downloads.flush(ctx.db, counter) == 3
    assert await _rows(ctx) == [("v1", int(NOW // DAY), 3)]
    assert counter.pending == 0


async def test_flushes_add_up_per_tag_and_day(ctx: Context) -> None:
    counter = DownloadCounter()
    counter.count("acme/web", "v1", NOW)
    counter.count("acme/web", "sha256:" + "0" * 64, NOW)
    await downloads.flush(ctx.db, counter)
    counter.count("acme/web", "v1", NOW)
    counter.count("acme/web", "v1", NOW + DAY)
    await downloads.flush(ctx.db, counter)
    day = int(NOW // DAY)
    assert await _rows(ctx) == [("", day, 1), ("v1", day, 2), ("v1", day + 1, 1)]


async def test_pulls_of_a_package_gone_since_are_dropped(ctx: Context) -> None:
    counter = DownloadCounter()
    counter.count("acme/gone", "v1", NOW)
    assert await downloads.flush(ctx.db, counter) == 1
    assert await _rows(ctx) == []


async def test_counts_stay_for_the_next_flush_when_the_database_fails(ctx: Context) -> None:
    counter = DownloadCounter()
    counter.count("acme/web", "v1", NOW)
    await ctx.db.close()
    with pytest.raises(Exception):  # noqa: B017 - whatever the closed driver raises
        await downloads.flush(ctx.db, counter)
    assert counter.pending == 1
