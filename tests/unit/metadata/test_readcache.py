"""The read cache keeps answers only while the database is unchanged: a commit by any
connection empties it, and nothing read inside a transaction is kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from cargohold.metadata.db import SQLiteDatabase
from cargohold.metadata.readcache import ReadCache


@pytest.fixture
async def databases(tmp_path: Path) -> tuple[SQLiteDatabase, SQLiteDatabase]:
    """Two connections to one SQLite file, as two worker processes have."""
    mine, other = SQLiteDatabase(tmp_path / "db"), SQLiteDatabase(tmp_path / "db")
    await mine.execute("CREATE TABLE t (v INTEGER)")
    yield mine, other
    await mine.close()
    await other.close()


def _keep(cache: ReadCache, db: SQLiteDatabase, key: str, value: str, size: int = 0) -> None:
    cache.put(cache.current(db), key, value, size)


async def test_an_answer_is_kept_while_nothing_is_committed(
    databases: tuple[SQLiteDatabase, SQLiteDatabase],
) -> None:
    mine, other = databases
    cache = ReadCache()
    _keep(cache, mine, "k", "v")
    await other.fetchone("SELECT v FROM t")
    assert cache.get(mine, "k") == "v"


async def test_a_commit_by_another_connection_empties_the_cache(
    databases: tuple[SQLiteDatabase, SQLiteDatabase],
) -> None:
    mine, other = databases
    cache = ReadCache()
    _keep(cache, mine, "k", "v")
    await other.execute("INSERT INTO t VALUES (1)")
    assert cache.get(mine, "k") is None


async def test_a_commit_by_this_connection_empties_the_cache(
    databases: tuple[SQLiteDatabase, SQLiteDatabase],
) -> None:
    mine, _ = databases
    cache = ReadCache()
    _keep(cache, mine, "k", "v")
    async with mine.transaction() as tx:
        await tx.execute("INSERT INTO t VALUES (1)")
    assert cache.get(mine, "k") is None


async def test_nothing_is_kept_while_this_connection_is_in_a_transaction(
    databases: tuple[SQLiteDatabase, SQLiteDatabase],
) -> None:
    """What a read sees inside a transaction may yet be rolled back."""
    mine, _ = databases
    cache = ReadCache()
    with pytest.raises(RuntimeError):
        async with mine.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (1)")
            _keep(cache, mine, "k", "uncommitted")
            raise RuntimeError("rolled back")
    assert cache.get(mine, "k") is None


async def test_an_answer_read_before_a_commit_is_not_kept_after_it(
    databases: tuple[SQLiteDatabase, SQLiteDatabase],
) -> None:
    mine, other = databases
    cache = ReadCache()
    mark = cache.current(mine)
    await other.execute("INSERT INTO t VALUES (1)")
    cache.current(mine)
    cache.put(mark, "k", "stale")
    assert cache.get(mine, "k") is None


class _NoMark:
    """A database that cannot tell its changes cheaply (PostgreSQL)."""

    def change_mark(self) -> object:
        return None


def test_nothing_is_kept_for_a_database_without_a_change_mark() -> None:
    db = _NoMark()
    cache = ReadCache()
    cache.put(cache.current(db), "k", "v")  # type: ignore[arg-type]
    assert cache.get(db, "k") is None  # type: ignore[arg-type]
    assert len(cache) == 0


async def test_the_cache_is_bounded_by_entries_and_bytes(
    databases: tuple[SQLiteDatabase, SQLiteDatabase],
) -> None:
    mine, _ = databases
    cache = ReadCache(max_entries=3, max_bytes=100)
    for key in "abcd":
        _keep(cache, mine, key, key, 10)
    assert [cache.get(mine, k) for k in "abcd"] == [None, "b", "c", "d"]
    _keep(cache, mine, "big", "big", 85)  # 115 bytes with b, c and d: the oldest two go
    assert [cache.get(mine, k) for k in ("b", "c", "d", "big")] == [None, None, "d", "big"]
    _keep(cache, mine, "huge", "huge", 101)
    assert cache.get(mine, "huge") is None


async def test_the_mark_moves_with_commits_of_other_connections_and_this_one(
    databases: tuple[SQLiteDatabase, SQLiteDatabase],
) -> None:
    """data_version for the other connections' commits, total_changes for this one's."""
    mine, other = databases
    cache = ReadCache()
    _keep(cache, mine, "k", "v")
    assert cache.get(mine, "k") == "v"
    await other.execute("INSERT INTO t VALUES (1)")
    assert cache.get(mine, "k") is None
    _keep(cache, mine, "k", "v")
    await mine.execute("INSERT INTO t VALUES (2)")
    assert cache.get(mine, "k") is None
