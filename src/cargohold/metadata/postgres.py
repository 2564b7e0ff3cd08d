"""PostgreSQL through an asyncpg pool: the same `Database` protocol as SQLite.

SQL is shared with SQLite: `:name` parameters are rewritten to `$n` once per
statement text (cached). Inside a transaction every `execute` runs under a
savepoint, so a refused write (IntegrityError) leaves the transaction usable,
as it does on SQLite. An unreachable or failing server raises `Unavailable`
(503) within the connect or command timeout; the pool reconnects by itself
once the server is back.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeAlias, TypeVar, cast
from urllib.parse import urlsplit

import asyncpg
import asyncpg.exceptions as pg_errors
from asyncpg.pool import PoolConnectionProxy

from cargohold import metrics
from cargohold.metadata.db import IntegrityError, Params, Row
from cargohold.oci.errors import Unavailable

log = logging.getLogger("cargohold.metadata")

T = TypeVar("T")
Conn: TypeAlias = "PoolConnectionProxy[Any]"

_SAVEPOINT = "cargohold_statement"
_PARAM = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*"|::|:([A-Za-z_][A-Za-z0-9_]*))""")

# Errors that say the server or the connection to it is gone, not that the SQL is wrong.
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    pg_errors.PostgresConnectionError,
    pg_errors.CannotConnectNowError,
    pg_errors.OperatorInterventionError,
    pg_errors.InsufficientResourcesError,
)


@functools.lru_cache(maxsize=2048)
def translate(sql: str) -> tuple[str, tuple[str, ...]]:
    """`:name` parameters → `$n` (same name, same number); quoted text and `::` casts kept."""
    names: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(2)
        if name is None:
            return match.group(0)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PARAM.sub(replace, sql), tuple(names)


def _bind(sql: str, params: Params | None) -> tuple[str, list[Any]]:
    query, names = translate(sql)
    values = params or {}
    try:
        return query, [values[name] for name in names]
    except KeyError as exc:
        raise ValueError(f"no value for parameter :{exc.args[0]} in {sql!r}") from None


def _rowcount(status: str) -> int:
    """Rows changed, from a command tag such as `INSERT 0 1`, `UPDATE 3` or `DELETE 0`."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def asyncpg_dsn(url: str) -> str:
    """A libpq-style URL asyncpg accepts (`postgresql+asyncpg://` → `postgresql://`)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {redact(url)}")
    return f"postgresql://{rest}"


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


async def _reset(conn: asyncpg.Connection[Any]) -> None:
    """On release to the pool. asyncpg's default reset (RESET ALL, UNLISTEN, advisory locks)
    costs a round trip per request, for session state this adapter never creates; an open
    transaction (a cancelled request's) is all there is to undo."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


class _Connection:
    """Statements on one connection; inside a transaction, each write runs under a savepoint."""

    for_update = " FOR UPDATE"
    for_share = " FOR SHARE"

    def __init__(self, db: PostgresDatabase, conn: Conn) -> None:
        self._db = db
        self._conn = conn
        self._savepoint = False

    async def fetchone(self, sql: str, params: Params | None = None) -> Row | None:
        query, args = _bind(sql, params)
        record = await self._db.guard(self._conn.fetchrow(query, *args))
        return cast(Row | None, record)

    async def fetchall(self, sql: str, params: Params | None = None) -> Sequence[Row]:
        query, args = _bind(sql, params)
        records = await self._db.guard(self._conn.fetch(query, *args))
        return cast(Sequence[Row], records)

    async def execute(self, sql: str, params: Params | None = None) -> int:
        query, args = _bind(sql, params)
        mark = f"RELEASE SAVEPOINT {_SAVEPOINT}; " if self._savepoint else ""
        await self._db.guard(self._conn.execute(f"{mark}SAVEPOINT {_SAVEPOINT}"))
        self._savepoint = True
        try:
            status = await self._db.guard(self._conn.execute(query, *args))
        except IntegrityError:
            await self._db.guard(self._conn.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}"))
            raise
        return _rowcount(status)


class PostgresDatabase:
    for_update = " FOR UPDATE"
    for_share = " FOR SHARE"

    def __init__(
        self,
        url: str,
        *,
        max_connections: int = 10,
        connect_timeout: float = 2.0,
        command_timeout: float = 15.0,
    ) -> None:
        self.url = url
        self._dsn = asyncpg_dsn(url)
        self._max = max_connections
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._pool: asyncpg.Pool[Any] | None = None
        self._pool_loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Lock | None = None
        self._in_use = 0  # connections this adapter's requests hold now (for the metrics)
        self._counted = False  # its pool size is in the metrics' cargohold_db_connections_max

    @property
    def where(self) -> str:
        return _where(self.url)

    async def _get_pool(self) -> asyncpg.Pool[Any]:
        loop = asyncio.get_running_loop()
        if self._pool is not None and self._pool_loop is loop:
            return self._pool
        if self._opening is None or self._pool_loop is not loop:
            self._opening, self._pool_loop, self._pool = asyncio.Lock(), loop, None
        async with self._opening:  # the first requests of a process race to make it
            if self._pool is None:
                # min_size=0: no connection is made here, so a node starts (and its health
                # endpoints answer) while the server is down; connections are made on demand.
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=0,
                    max_size=self._max,
                    timeout=self._connect_timeout,
                    command_timeout=self._command_timeout,
                    max_inactive_connection_lifetime=60.0,
                    reset=_reset,
                )
                if not self._counted:
                    self._counted = True
                    metrics.PROCESS.db_max += self._max
            return self._pool

    async def guard(self, operation: Awaitable[T]) -> T:
        """Run one database call, translating driver errors into the adapter's own."""
        try:
            return await operation
        except pg_errors.IntegrityConstraintViolationError as exc:
            raise IntegrityError(str(exc)) from exc
        except _CONNECTION_ERRORS as exc:
            raise await self._unavailable(exc) from exc

    async def _unavailable(self, exc: BaseException) -> Unavailable:
        if self._pool is not None:
            await self._pool.expire_connections()  # the others are likely dead too: reconnect them
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            reason = "no answer in time"
        log.warning("database at %s unavailable: %s", self.where, reason)
        return Unavailable(
            f"the metadata database is unavailable ({reason}); try again shortly",
            detail={"component": "database"},
            headers={"Retry-After": "5"},
        )

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        pool = await self._get_pool()
        process = metrics.PROCESS
        waited = time.perf_counter() if self._in_use >= self._max else None
        conn = await self.guard(pool.acquire(timeout=self._command_timeout))
        if waited is not None:  # every connection was taken: this request waited for one
            process.db_waits += 1
            process.db_wait_seconds += time.perf_counter() - waited
        self._in_use += 1
        process.db_in_use += 1
        try:
            yield conn
        finally:
            self._in_use -= 1
            process.db_in_use -= 1
            try:
                await pool.release(conn, timeout=self._connect_timeout)
            except Exception:  # a broken connection is dropped by the pool anyway
                conn.terminate()

    async def fetchone(self, sql: str, params: Params | None = None) -> Row | None:
        return await self._read(lambda c: c.fetchone(sql, params))

    async def fetchall(self, sql: str, params: Params | None = None) -> Sequence[Row]:
        return await self._read(lambda c: c.fetchall(sql, params))

    async def _read(self, call: Callable[[_Connection], Awaitable[T]]) -> T:
        """A read outside a transaction is retried once when a pooled connection turns out
        dead (the server restarted and is back); a failure to connect is not retried."""
        for attempt in (1, 2):
            async with self._connection() as conn:
                try:
                    return await call(_Connection(self, conn))
                except Unavailable:
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    async def execute(self, sql: str, params: Params | None = None) -> int:
        query, args = _bind(sql, params)
        async with self._connection() as conn:
            return _rowcount(await self.guard(conn.execute(query, *args)))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Connection]:
        async with self._connection() as conn:
            transaction = conn.transaction()
            await self.guard(transaction.start())
            try:
                yield _Connection(self, conn)
            except BaseException:
                try:
                    await transaction.rollback()
                except Exception:  # connection gone: the server rolls back by itself
                    log.debug("rollback failed", exc_info=True)
                raise
            await self.guard(transaction.commit())

    def change_mark(self) -> object:
        """None: other nodes commit without telling this one, so nothing read is kept."""
        return None

    async def schema_revision(self) -> str | None:
        """The Alembic revision the database is at; None for an empty database."""
        try:
            row = await self.fetchone("SELECT version_num FROM alembic_version")
        except pg_errors.UndefinedTableError:
            return None
        return None if row is None else str(row["version_num"])

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if self._counted:
            self._counted = False
            metrics.PROCESS.db_max -= self._max
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=5.0)
            except (TimeoutError, RuntimeError):
                pool.terminate()
