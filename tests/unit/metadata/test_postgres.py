"""The PostgreSQL adapter against the real server: the same behaviour as SQLite's, and
503s instead of hangs when the server is gone, and recovery when it is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cargohold.metadata import migrate, revision
from cargohold.metadata.db import IntegrityError
from cargohold.metadata.postgres import PostgresDatabase, asyncpg_dsn, redact, translate
from cargohold.metadata.schema import metadata
from cargohold.oci.errors import Unavailable
from tests.backends import PostgresServer, TcpProxy, empty_database, free_port


@pytest.fixture(scope="module")
def database_url(postgres_server: PostgresServer) -> Iterator[str]:
    url = postgres_server.create_database("unit")
    migrate.upgrade(url)
    yield url
    postgres_server.drop_database(PostgresServer.name_of(url))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[PostgresDatabase]:
    empty_database(database_url)
    database = PostgresDatabase(database_url)
    yield database
    await database.close()


@pytest.mark.parametrize(
    ("sql", "expected", "names"),
    [
        ("SELECT * FROM t WHERE a = :a", "SELECT * FROM t WHERE a = $1", ("a",)),
        ("VALUES (:x, :y, :x)", "VALUES ($1, $2, $1)", ("x", "y")),
        ("SELECT ':no', \"a:b\", c::text FROM t", "SELECT ':no', \"a:b\", c::text FROM t", ()),
        ("SELECT 'it''s :no' WHERE n > :last", "SELECT 'it''s :no' WHERE n > $1", ("last",)),
    ],
)
def test_named_parameters_become_numbered(sql: str, expected: str, names: tuple[str, ...]) -> None:
    assert translate(sql) == (expected, names)


def test_urls() -> None:
    assert asyncpg_dsn("postgresql+asyncpg://u@h/d") == "postgresql://u@h/d"
    assert asyncpg_dsn("postgres://u@h/d") == "postgresql://u@h/d"
    assert redact("postgresql://u:secret@h:5/d") == "postgresql://u:***@h:5/d"
    with pytest.raises(ValueError):
        asyncpg_dsn("sqlite:///x")


def test_migrations_build_exactly_the_table_definitions(database_url: str) -> None:
    assert migrate.current_revision(database_url) == migrate.head_revision() == revision.HEAD
    differences = migrate._with_connection(
        database_url,
        lambda connection: compare_metadata(MigrationContext.configure(connection), metadata),
    )
    assert differences == []


async def test_schema_revision(db: PostgresDatabase, postgres_server: PostgresServer) -> None:
    assert await db.schema_revision() == revision.HEAD
    empty = PostgresDatabase(postgres_server.create_database("empty"))
    try:
        assert await empty.schema_revision() is None
    finally:
        await empty.close()


async def test_rows_rowcounts_and_types(db: PostgresDatabase) -> None:
    assert (
        await db.execute(
            "INSERT INTO packages (name, created_at) VALUES (:n, :t)", {"n": "acme/web", "t": 1}
        )
        == 1
    )
    row = await db.fetchone(
        "SELECT id, name, created_at FROM packages WHERE name = :n", {"n": "acme/web"}
    )
    assert row is not None and row["name"] == "acme/web" and row["created_at"] == 1.0
    assert dict(row).keys() == {"id", "name", "created_at"}
    assert await db.execute("UPDATE packages SET created_at = :t", {"t": 2.5}) == 1
    assert await db.execute("DELETE FROM packages WHERE name = :n", {"n": "nothing"}) == 0
    assert await db.fetchone("SELECT id FROM packages WHERE name = :n", {"n": "nothing"}) is None


async def test_lexical_order_is_bytewise_like_sqlite(db: PostgresDatabase) -> None:
    """The test database sorts by an ICU locale ('a' < 'B'); the schema's C collation wins."""
    names = ["b/x", "B/x", "a-b/x", "a/x", "a_b/x", "A/x", "a.b/x", "_/x", "0/x"]
    for name in names:
        await db.execute("INSERT INTO packages (name, created_at) VALUES (:n, 0)", {"n": name})
    rows = await db.fetchall(
        "SELECT name FROM packages WHERE name > :last ORDER BY name", {"last": ""}
    )
    assert [row["name"] for row in rows] == sorted(names, key=str.encode)
    after = await db.fetchall(
        "SELECT name FROM packages WHERE name > :last ORDER BY name", {"last": "a"}
    )
    assert [row["name"] for row in after] == [n for n in sorted(names, key=str.encode) if n > "a"]


async def test_integrity_errors_leave_the_transaction_usable(db: PostgresDatabase) -> None:
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO packages (name, created_at) VALUES ('p', 0)")
        with pytest.raises(IntegrityError):
            await tx.execute("INSERT INTO packages (name, created_at) VALUES ('p', 0)")
        with pytest.raises(IntegrityError):  # a foreign key
            await tx.execute(
                "INSERT INTO package_blobs (package_id, digest, created_at) VALUES (-1, 'x', 0)"
            )
        await tx.execute("INSERT INTO packages (name, created_at) VALUES ('q', 0)")
    rows = await db.fetchall("SELECT name FROM packages ORDER BY name")
    assert [row["name"] for row in rows] == ["p", "q"]
    with pytest.raises(IntegrityError):
        await db.execute("INSERT INTO packages (name, created_at) VALUES ('p', 0)")


async def test_a_failed_transaction_leaves_nothing(db: PostgresDatabase) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO packages (name, created_at) VALUES ('gone', 0)")
            raise RuntimeError("boom")
    assert await db.fetchall("SELECT name FROM packages") == []


async def test_concurrent_transactions_each_see_their_own_writes(db: PostgresDatabase) -> None:
    async def add(name: str) -> int:
        async with db.transaction() as tx:
            await tx.execute(
                "INSERT INTO packages (name, created_at) VALUES (:n, 0) ON CONFLICT DO NOTHING",
                {"n": name},
            )
            row = await tx.fetchone("SELECT id FROM packages WHERE name = :n", {"n": name})
            assert row is not None
            return int(row["id"])

    ids = await asyncio.gather(*(add("same") for _ in range(8)), *(add(f"p{i}") for i in range(8)))
    assert len(set(ids[:8])) == 1
    assert len(await db.fetchall("SELECT id FROM packages")) == 9


async def test_an_unreachable_server_is_a_quick_503() -> None:
    db = PostgresDatabase(f"postgresql://postgres@127.0.0.1:{free_port()}/x", connect_timeout=1.0)
    try:
        for attempt in (
            lambda: db.fetchone("SELECT 1"),
            lambda: db.execute("SELECT 1"),
            lambda: db.transaction().__aenter__(),
        ):
            started = time.monotonic()
            with pytest.raises(Unavailable) as caught:
                await attempt()
            assert time.monotonic() - started < 2.5
            assert caught.value.http_status == 503
            assert caught.value.detail == {"component": "database"}
    finally:
        await db.close()


async def test_service_resumes_when_the_server_is_back(
    database_url: str, postgres_server: PostgresServer
) -> None:
    proxy = TcpProxy(postgres_server.port)
    await proxy.start()
    url = database_url.replace(f":{postgres_server.port}/", f":{proxy.port}/")
    db = PostgresDatabase(url, connect_timeout=1.0, command_timeout=3.0)
    try:
        assert dict(await db.fetchone("SELECT 1 AS one") or {}) == {"one": 1}
        await proxy.stop()  # the server 'goes away': open connections cut, new ones refused
        with pytest.raises(Unavailable):
            await db.fetchone("SELECT 1 AS one")
        with pytest.raises(Unavailable):
            async with db.transaction() as tx:
                await tx.execute("SELECT 1")
        await proxy.start()
        row = await db.fetchone("SELECT 1 AS one")  # no restart of ours needed
        assert row is not None and row["one"] == 1
        async with db.transaction() as tx:
            assert await tx.execute("DELETE FROM packages WHERE name = :n", {"n": "-"}) == 0
    finally:
        await db.close()
        await proxy.stop()
