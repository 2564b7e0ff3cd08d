"""Session fixtures every suite may use: the real PostgreSQL and SeaweedFS (tests/backends.py).

Each starts only when a test asks for it, and cleans up after the run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.backends import PostgresServer, SeaweedFS, seaweedfs


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer.connect()
    try:
        yield server
    finally:
        server.drop_all()


@pytest.fixture(scope="session")
def seaweedfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    yield from seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
