"""The small async database adapter the hot path uses instead of an ORM.

SQL is written once with `:name` parameters. SQLite runs inline on the event
loop through the stdlib driver (its queries take microseconds); a transaction
body must therefore contain database calls only, never other awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

from cargohold import metrics
from cargohold.metadata.walindex import WalIndex

Row = Mapping[str, Any]
Params = Mapping[str, Any]


def in_list(column: str, values: Sequence[Any], prefix: str = "v") -> tuple[str, dict[str, Any]]:
    """`column IN (:v0, :v1, ...)` and its parameters, for a non-empty list of values."""
    names = [f"{prefix}{i}" for i in range(len(values))]
    marks = ", ".join(f":{name}" for name in names)
    return f"{column} IN ({marks})", dict(zip(names, values, strict=True))


class IntegrityError(Exception):
    """A uniqueness or foreign-key rule refused the write."""


class Queries(Protocol):
    # " FOR UPDATE" / " FOR SHARE" where the database locks rows (PostgreSQL); empty where a
    # write transaction already excludes every other writer (SQLite's BEGIN IMMEDIATE).
    for_update: str
    for_share: str

    async def fetchone(self, sql: str, params: Params | None = None) -> Row | None: ...

    async def fetchall(self, sql: str, params: Params | None = None) -> Sequence[Row]: ...

    async def execute(self, sql: str, params: Params | None = None) -> int:
        """Run a statement; returns the number of rows it changed."""
        ...


class Database(Queries, Protocol):
    def transaction(self) -> Any:
        """`async with db.transaction() as tx:` — commits on success, rolls back on error."""
        ...

    async def close(self) -> None: ...

    def change_mark(self) -> object:
        """A value that differs after any commit to the database, by any process, or None
        when that cannot be told without a round trip (see metadata/readcache.py)."""
        ...


# SQLite creates the -wal and -shm files with the mode of the database file.
_SQLITE_FILES = ("", "-wal", "-shm", "-journal")


def private_sqlite_file(path: Path) -> None:
    """Make the database file (and any WAL, shared-memory or journal file beside it)
    readable by the server's user only, 0600, whatever the umask: created so when missing,
    tightened when an earlier version left it open to others. Call before anything opens
    the database (SQLite gives its -wal and -shm files the database file's mode)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for suffix in _SQLITE_FILES:
        companion = path.with_name(path.name + suffix)
        with contextlib.suppress(FileNotFoundError):
            if companion.stat().st_mode & 0o177:
                companion.chmod(0o600)


WAL_SWITCH_TIMEOUT = 10.0


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the database in WAL mode (it stays so, in the file). The switch needs the
    database alone, and SQLite answers "database is locked" at once, without waiting out
    busy_timeout, when another connection is switching too: workers opening a new
    database together. Tried again until one of them has switched it."""
    deadline = time.monotonic() + WAL_SWITCH_TIMEOUT
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SQLiteDatabase:
    for_update = ""
    for_share = ""

    def __init__(self, path: Path) -> None:
        private_sqlite_file(path)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        for pragma in ("busy_timeout=10000", "synchronous=NORMAL", "foreign_keys=ON"):
            self._conn.execute(f"PRAGMA {pragma}")
        _use_wal(self._conn)
        # A first read makes SQLite open the WAL index (the -shm file) and lock it.
        self._conn.execute("PRAGMA data_version")
        self._wal_index = WalIndex.open(path)
        self._lock = asyncio.Lock()
        self._open = True
        metrics.PROCESS.db_max += 1

    def change_mark(self) -> object:
        """The header of the WAL index (metadata/walindex.py), which every commit by any
        connection of any process rewrites before it returns, with this connection's
        `total_changes` (its own commits, whatever file the header is read from). Read with
        one `pread` and no call into SQLite, which would let go of the GIL for longer and
        take it back behind Granian's threads. None while this connection is in a
        transaction (what it reads may yet be rolled back), or when the header cannot be
        read whole with its two copies equal (a commit writing it, a truncated file):
        nothing is cached then. Without a WAL index (not in WAL mode), `PRAGMA
        data_version`, which moves with the other connections' commits."""
        if self._conn.in_transaction:
            return None
        if self._wal_index is None:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            return (version, self._conn.total_changes)
        header = self._wal_index.header()
        return None if header is None else (header, self._conn.total_changes)

    async def fetchone(self, sql: str, params: Params | None = None) -> Row | None:
        row: Row | None = self._conn.execute(sql, params or {}).fetchone()
        return row

    async def fetchall(self, sql: str, params: Params | None = None) -> Sequence[Row]:
        rows: Sequence[Row] = self._conn.execute(sql, params or {}).fetchall()
        return rows

    async def execute(self, sql: str, params: Params | None = None) -> int:
        try:
            return self._conn.execute(sql, params or {}).rowcount
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SQLiteDatabase]:
        # The metrics count the one connection as in use while a transaction holds it,
        # and a transaction that waits for another as a wait for the pool.
        process = metrics.PROCESS
        waited = time.perf_counter() if self._lock.locked() else None
        async with self._lock:
            if waited is not None:
                process.db_waits += 1
                process.db_wait_seconds += time.perf_counter() - waited
            process.db_in_use += 1
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            finally:
                process.db_in_use -= 1

    async def close(self) -> None:
        if self._open:
            self._open = False
            metrics.PROCESS.db_max -= 1
        self._conn.close()
        if self._wal_index is not None:  # after the connection: see WalIndex.close
            self._wal_index.close()
            self._wal_index = None
