"""A directory tree as a store: uploads are files renamed into place."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from cargohold.oci.errors import Unavailable
from cargohold.storage.base import CHUNK_SIZE, ObjectNotFound


class FilesystemBackend:
    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root.resolve()
        self.fsync = fsync
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"invalid storage key {key!r}")
        return self.root / key

    def _upload_path(self, key: str) -> Path:
        return self._path(key + ".upload")

    async def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        try:
            handle = open(self._path(key), "rb")  # noqa: SIM115
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        with handle:
            handle.seek(offset)
            remaining = length
            while remaining is None or remaining > 0:
                want = CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining)
                data = handle.read(want)
                if not data:
                    break
                if remaining is not None:
                    remaining -= len(data)
                yield data

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    async def presigned_url(self, key: str, expires: int) -> str | None:
        return None

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    async def list(self, prefix: str) -> AsyncIterator[str]:
        for directory, _dirs, files in os.walk(self.root):
            for name in files:
                key = os.path.relpath(os.path.join(directory, name), self.root)
                if key.startswith(prefix) and not key.endswith(".upload"):
                    yield key

    async def modified(self, key: str) -> float:
        try:
            return self._path(key).stat().st_mtime
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    async def list_uploads(self, prefix: str) -> AsyncIterator[tuple[str, float]]:
        top = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        for directory, _dirs, files in os.walk(top):
            for name in files:
                key = os.path.relpath(os.path.join(directory, name), self.root)
                if name.endswith(".upload") and key.startswith(prefix):
                    with contextlib.suppress(FileNotFoundError):
                        when = os.stat(os.path.join(directory, name)).st_mtime
                        yield key[: -len(".upload")], when

    async def start_upload(self, key: str) -> str:
        path = self._upload_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        return ""

    async def append_upload(
        self, key: str, state: str, offset: int, chunks: AsyncIterator[bytes]
    ) -> tuple[int, str]:
        path = self._upload_path(key)
        try:
            handle = open(path, "r+b")  # noqa: SIM115
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        with handle:
            handle.seek(offset)
            handle.truncate()
            try:
                async for chunk in chunks:
                    handle.write(chunk)
            except BaseException:
                handle.truncate(offset)
                raise
            return handle.tell(), state

    async def read_upload(self, key: str, state: str) -> AsyncIterator[bytes]:
        try:
            handle = open(self._upload_path(key), "rb")  # noqa: SIM115
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        with handle:
            while data := handle.read(CHUNK_SIZE):
                yield data

    async def publish_upload(self, key: str, state: str, dest: str) -> None:
        source = self._upload_path(key)
        target = self._path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            if self.fsync:
                fd = os.open(source, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            os.replace(source, target)
            os.utime(target)  # published now, however long ago the last chunk arrived
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    async def abort_upload(self, key: str, state: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._upload_path(key).unlink()

    async def check(self) -> None:
        """The directory is there and ours to write in (an unmounted volume, a lost
        permission: Unavailable)."""
        if not self.root.is_dir() or not os.access(self.root, os.R_OK | os.W_OK | os.X_OK):
            raise Unavailable(
                "the storage directory is missing or not writable",
                detail={"component": "storage"},
                headers={"Retry-After": "5"},
            )

    async def close(self) -> None:
        """Nothing is held open between calls."""
