"""Every storage backend runs the same suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from cargohold.storage.base import Backend
from cargohold.storage.filesystem import FilesystemBackend
from cargohold.storage.memory import MemoryBackend


@pytest.fixture(params=["filesystem", "memory"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "filesystem":
        return FilesystemBackend(tmp_path / "store")
    return MemoryBackend()
