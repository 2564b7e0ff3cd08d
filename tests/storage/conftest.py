"""Every storage backend runs the same suite; `s3` is a real SeaweedFS (tests/backends.py)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cargohold.storage.base import Backend
from cargohold.storage.filesystem import FilesystemBackend
from cargohold.storage.measured import MeasuredBackend
from cargohold.storage.memory import MemoryBackend
from cargohold.storage.s3 import MIN_PART_SIZE, S3Backend
from tests.backends import S3_ACCESS_KEY, S3_REGION, S3_SECRET_KEY, SeaweedFS


def s3_backend(server: SeaweedFS, **overrides: object) -> S3Backend:
    """A backend on its own prefix of the test bucket, with the smallest parts S3 allows."""
    options: dict[str, object] = {
        "bucket": server.bucket,
        "prefix": f"storage-{secrets.token_hex(4)}/",
        "endpoint": server.endpoint,
        "region": S3_REGION,
        "access_key": S3_ACCESS_KEY,
        "secret_key": S3_SECRET_KEY,
        "path_style": True,
        "part_size": MIN_PART_SIZE,
    }
    options.update(overrides)
    return S3Backend(**options)  # type: ignore[arg-type]


@pytest.fixture(params=["filesystem", "memory", "s3", "measured"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Each store; `measured` is the metrics' wrapper (storage/measured.py) around the
    filesystem store, which must keep the whole contract too."""
    if request.param == "filesystem":
        yield FilesystemBackend(tmp_path / "store")
    elif request.param == "measured":
        yield MeasuredBackend(FilesystemBackend(tmp_path / "store"))
    elif request.param == "memory":
        yield MemoryBackend()
    else:
        store = s3_backend(request.getfixturevalue("seaweedfs_server"))
        try:
            yield store
        finally:
            await store.close()
