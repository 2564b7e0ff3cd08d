"""SQLite's change mark, the header of the WAL index read with `pread` (metadata/walindex.py),
against real processes: every commit of another process moves it, so do checkpoints and
resets of the WAL, and the process that reads it keeps SQLite's hold on the WAL index (a
process that let go of it had its -shm file truncated under it by the next process to open
the database, and died of SIGBUS)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cargohold.metadata.db import SQLiteDatabase
from cargohold.metadata.readcache import ReadCache

TIMEOUT = 60.0
# The byte of the -shm file that every process using the WAL index holds a shared lock on
# (SQLite's UNIX_SHM_DMS): the first process to take it exclusively rebuilds the index.
DMS_BYTE = 128


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """`code` in another Python process, with this tree on its path."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def in_other_process(path: Path, *statements: str) -> None:
    """Run SQL statements on the database from a connection in another process."""
    result = run_python(
        f"""
        import sqlite3
        conn = sqlite3.connect({str(path)!r}, isolation_level=None)
        for statement in {list(statements)!r}:
            conn.execute(statement).fetchall()
        conn.close()
        """
    )
    assert result.returncode == 0, result.stderr


def index_in_use(path: Path) -> bool:
    """Whether some process holds the WAL index's in-use lock, asked from another process."""
    result = run_python(
        f"""
        import fcntl, os
        fd = os.open({f"{path}-shm"!r}, os.O_RDWR)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, {DMS_BYTE})
        except OSError:
            print("held")
        else:
            print("free")
        """
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip() == "held"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SQLiteDatabase]:
    database = SQLiteDatabase(tmp_path / "db")
    await database.execute("CREATE TABLE t (v INTEGER)")
    yield database
    await database.close()


def header_mark(db: SQLiteDatabase) -> object:
    """The mark, checked to come from the WAL index's header (not SQLite's fallback)."""
    mark = db.change_mark()
    assert isinstance(mark, tuple)
    assert isinstance(mark[0], bytes), "the mark should come from the WAL index"
    return mark


async def test_a_commit_by_another_process_moves_the_mark_and_empties_the_cache(
    db: SQLiteDatabase, tmp_path: Path
) -> None:
    cache = ReadCache()
    cache.put(cache.current(db), "k", "v")
    before = header_mark(db)
    in_other_process(tmp_path / "db", "SELECT * FROM t")  # a read moves nothing
    assert header_mark(db) == before
    assert cache.get(db, "k") == "v"
    in_other_process(tmp_path / "db", "INSERT INTO t VALUES (1)")
    assert header_mark(db) != before
    assert cache.get(db, "k") is None


async def test_a_checkpoint_and_a_reset_of_the_wal_move_the_mark(
    db: SQLiteDatabase, tmp_path: Path
) -> None:
    """After a checkpoint that empties the WAL, a commit starts again from its first frame:
    the mark must not come back to a value it had (the salts and the commit count move)."""
    path = tmp_path / "db"
    in_other_process(path, "PRAGMA wal_checkpoint(TRUNCATE)", "INSERT INTO t VALUES (1)")
    one_commit = header_mark(db)
    cache = ReadCache()
    cache.put(cache.current(db), "k", "v")
    in_other_process(path, "PRAGMA wal_checkpoint(TRUNCATE)")
    assert os.path.getsize(f"{path}-wal") == 0
    checkpointed = header_mark(db)
    assert checkpointed != one_commit
    # The same commit again into the emptied WAL: the same frames at the same places.
    in_other_process(path, "INSERT INTO t VALUES (2)")
    assert header_mark(db) not in (one_commit, checkpointed)
    assert cache.get(db, "k") is None
    rows = await db.fetchall("SELECT v FROM t ORDER BY v")
    assert [row["v"] for row in rows] == [1, 2]


async def test_this_process_keeps_its_hold_on_the_wal_index(tmp_path: Path) -> None:
    """Two databases on one file in this process, one closed: the file stays locked as in
    use, so another process's SQLite does not rebuild (truncate) it under this one."""
    path = tmp_path / "db"
    first = SQLiteDatabase(path)
    second = SQLiteDatabase(path)
    try:
        await first.execute("CREATE TABLE t (v INTEGER)")
        header_mark(first)
        header_mark(second)
        assert index_in_use(path)
        await second.close()
        assert index_in_use(path)
        in_other_process(path, "INSERT INTO t VALUES (1)")
        row = await first.fetchone("SELECT count(*) AS n FROM t")
        assert row is not None and row["n"] == 1
        header_mark(first)
    finally:
        await first.close()
        await second.close()


def test_a_truncated_wal_index_does_not_kill_the_reader(tmp_path: Path) -> None:
    """Read, never mapped: a truncated -shm file gives a short read and no mark (nothing is
    cached), where a mapping of it kills the process with SIGBUS. (SQLite's own mapping would
    still fault at its next use of the file, so the child stops there.)"""
    path = tmp_path / "db"
    result = run_python(
        f"""
        import asyncio, os, sys
        from pathlib import Path
        from cargohold.metadata.db import SQLiteDatabase
        db = SQLiteDatabase(Path({str(path)!r}))
        asyncio.run(db.execute("CREATE TABLE t (v INTEGER)"))
        print(type(db.change_mark()[0]).__name__)
        for size in (0, 3):
            os.truncate({f"{path}-shm"!r}, size)
            print(db.change_mark())
        sys.stdout.flush()
        os._exit(0)
        """
    )
    assert result.returncode == 0, f"{result.returncode}: {result.stderr}"
    assert result.stdout.split() == ["bytes", "None", "None"]


async def test_a_wal_index_replaced_on_disk_leaves_the_mark_moving(
    db: SQLiteDatabase, tmp_path: Path
) -> None:
    """SQLite keeps the -shm file it opened, and so does the mark: a file put in its place
    changes neither, and this connection's commits still move the mark."""
    shm = Path(f"{tmp_path / 'db'}-shm")
    before = header_mark(db)
    shm.unlink()
    shm.write_bytes(bytes(32768))
    assert header_mark(db) == before
    await db.execute("INSERT INTO t VALUES (1)")
    assert header_mark(db) != before
