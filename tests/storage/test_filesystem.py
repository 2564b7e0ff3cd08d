"""What only the filesystem store has to get right: its directory going away."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cargohold.oci.errors import Unavailable
from cargohold.storage.filesystem import FilesystemBackend


async def test_check_is_unavailable_when_the_directory_is_gone(tmp_path: Path) -> None:
    store = FilesystemBackend(tmp_path / "store")
    shutil.rmtree(tmp_path / "store")
    with pytest.raises(Unavailable) as caught:
        await store.check()
    assert caught.value.http_status == 503
    assert caught.value.detail == {"component": "storage"}


async def test_check_does_not_make_a_missing_directory(tmp_path: Path) -> None:
    """An unmounted volume stays visibly missing instead of filling the disk beneath it."""
    store = FilesystemBackend(tmp_path / "store")
    shutil.rmtree(tmp_path / "store")
    with pytest.raises(Unavailable):
        await store.check()
    assert not (tmp_path / "store").exists()
