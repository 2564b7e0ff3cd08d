"""Session fixtures every suite may use: the real PostgreSQL and SeaweedFS (tests/backends.py).

Each starts only when a test asks for it, and cleans up after the run. PostgreSQL is the
local server on 127.0.0.1:5432 when one answers, else a private server started here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.backends import PostgresServer, SeaweedFS, seaweedfs


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer.local_or_private()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def seaweedfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    yield from seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
