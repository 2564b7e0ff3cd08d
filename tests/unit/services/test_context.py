"""Closing a context closes what it opened: the database and the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from cargohold.config import Settings
from cargohold.services.context import open_context
from cargohold.storage.memory import MemoryBackend


class CountingStore(MemoryBackend):
    def __init__(self) -> None:
        super().__init__()
        self.closed = 0

    async def close(self) -> None:
        self.closed += 1


async def test_closing_the_context_closes_the_store(tmp_path: Path) -> None:
    ctx = open_context(Settings(data_dir=tmp_path, storage="memory", auth="none"))
    ctx.storage = store = CountingStore()
    await ctx.close()
    assert store.closed == 1


async def test_the_store_is_closed_even_when_the_database_fails_to_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = open_context(Settings(data_dir=tmp_path, storage="memory", auth="none"))
    ctx.storage = store = CountingStore()
    really_close = ctx.db.close

    async def broken() -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(ctx.db, "close", broken)
    with pytest.raises(OSError, match="disk went away"):
        await ctx.close()
    await really_close()
    assert store.closed == 1
