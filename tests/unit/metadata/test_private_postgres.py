"""The tests' own PostgreSQL (tests/backends.py): with no server on the port asked for, the
fixtures start a private one, which serves the databases the suites make (ICU order and
all) and is gone, folder and port, when it is closed. Run on every machine, so the path a
machine without a local server takes cannot rot where one runs."""

from __future__ import annotations

import socket

import asyncpg
import pytest

from tests.backends import PG_HOST, PostgresServer, free_port, postgres_mode, run


async def _sorted_names(url: str) -> list[str]:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute("CREATE TABLE t (name text)")
        await conn.execute("INSERT INTO t VALUES ('b'), ('B'), ('a'), ('A')")
        return [row["name"] for row in await conn.fetch("SELECT name FROM t ORDER BY name")]
    finally:
        await conn.close()


def _listens(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((PG_HOST, port)) == 0


def test_with_no_server_on_the_port_a_private_one_starts_serves_and_is_removed() -> None:
    unused = free_port()
    server = PostgresServer.local_or_private(port=unused)
    private = server.private
    try:
        assert private is not None
        assert server.port == private.port != unused
        assert server.user == "postgres"
        assert _listens(server.port)
        url = server.create_database("private")
        assert url == f"postgresql://postgres@{PG_HOST}:{server.port}/{server.name_of(url)}"
        assert run(_sorted_names(url)) == ["a", "A", "b", "B"]  # ICU en-US, not bytewise
        server.drop_database(server.name_of(url))
        assert server.created == []
    finally:
        server.close()
    assert server.private is None
    assert not private.root.exists()
    assert not _listens(private.port)


def test_the_mode_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARGOHOLD_TEST_POSTGRES", "")
    assert postgres_mode() == "auto"
    monkeypatch.setenv("CARGOHOLD_TEST_POSTGRES", "private")
    assert postgres_mode() == "private"
    monkeypatch.setenv("CARGOHOLD_TEST_POSTGRES", "elsewhere")
    with pytest.raises(ValueError, match="CARGOHOLD_TEST_POSTGRES"):
        postgres_mode()
