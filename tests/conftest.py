"""Session fixtures every suite may use: the real PostgreSQL and SeaweedFS (tests/backends.py).

Each starts only when a test asks for it, and cleans up after the run. PostgreSQL is the
local server on 127.0.0.1:5432 when one answers, else a private server started here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.backends import PostgresServer, SeaweedFS, seaweedfs

# Every server the tests start runs one worker unless its test asks for more: the default
# (one per core) would double the processes of the many servers that share a test machine.
# The tests of the default itself unset this (tests/unit/test_config.py).
os.environ.setdefault("CARGOHOLD_WORKERS", "1")


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
