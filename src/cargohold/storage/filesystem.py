"""A directory tree as a store: uploads are files renamed into place.

Everything it creates is private to the server's user, whatever the umask: folders 0700,
files 0600 (an upload file keeps its mode when it is published as a blob).

Large reads and writes, and the fsync before publishing, run in a worker thread so that
the event loop keeps serving other requests meanwhile; small ones (the common layer and
config blob) stay inline, where a thread hop would cost more than the I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from cargohold.oci.errors import Unavailable
from cargohold.storage.base import CHUNK_SIZE, ObjectNotFound

DIR_MODE = 0o700
FILE_MODE = 0o600

# Reads and writes of at least this many bytes go to a thread; writes are gathered into
# batches of WRITE_BATCH bytes first, so a large upload costs one thread hop per batch.
THREAD_MIN = 256 * 1024
WRITE_BATCH = 1024 * 1024


def make_dirs(path: Path) -> None:
    """Create `path` and any missing parents, each 0700 (`mkdir -p` would give them the
    umask's mode)."""
    missing: list[Path] = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=DIR_MODE)


class FilesystemBackend:
    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root.resolve()
        self.fsync = fsync
        make_dirs(self.root)

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
            end = os.fstat(handle.fileno()).st_size
            if length is not None:
                end = min(end, offset + length)
            async for data in _chunks(handle, offset, end):
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
        make_dirs(path.parent)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
        return ""

    async def append_upload(
        self,
        key: str,
        state: str,
        offset: int,
        chunks: AsyncIterator[bytes],
        dest: str | None = None,
    ) -> tuple[int, str]:
        path = self._upload_path(key)
        try:
            handle = open(path, "r+b")  # noqa: SIM115
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        with handle:
            if os.fstat(handle.fileno()).st_size != offset:
                handle.truncate(offset)  # what an append that died midway left behind
            handle.seek(offset)
            try:
                batch: list[bytes] = []
                batched = 0
                async for chunk in chunks:
                    batch.append(chunk)
                    batched += len(chunk)
                    if batched >= WRITE_BATCH:
                        await _write(handle, batch, batched)
                        batch, batched = [], 0
                await _write(handle, batch, batched)
            except BaseException:
                handle.truncate(offset)
                raise
            size = handle.tell()
            if size - offset >= THREAD_MIN:
                # Closing may wait for the disk too (ext4 starts writing back a file that
                # was rewritten when it is closed): 0.15-0.25 s for 1 GiB here.
                await asyncio.to_thread(handle.close)
            return size, state

    async def read_upload(self, key: str, state: str) -> AsyncIterator[bytes]:
        try:
            handle = open(self._upload_path(key), "rb")  # noqa: SIM115
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        with handle:
            async for data in _chunks(handle, 0, os.fstat(handle.fileno()).st_size):
                yield data

    async def publish_upload(self, key: str, state: str, dest: str) -> None:
        source = self._upload_path(key)
        target = self._path(dest)
        make_dirs(target.parent)
        try:
            if self.fsync:  # waits for the disk: never on the event loop
                await asyncio.to_thread(_publish, source, target, True)
            else:
                _publish(source, target, False)
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


async def _chunks(handle: BinaryIO, offset: int, end: int) -> AsyncIterator[bytes]:
    """The bytes of `handle` from `offset` to `end` (or to where the file ends, if sooner),
    in pieces of CHUNK_SIZE; read in a thread when that much is left to read."""
    handle.seek(offset)
    position = offset
    while position < end:
        want = min(CHUNK_SIZE, end - position)
        if end - position >= THREAD_MIN:
            data = await asyncio.to_thread(handle.read, want)
        else:
            data = handle.read(want)
        if not data:
            return
        position += len(data)
        yield data


async def _write(handle: BinaryIO, batch: list[bytes], size: int) -> None:
    if size >= THREAD_MIN:
        await asyncio.to_thread(handle.writelines, batch)
    elif batch:
        handle.writelines(batch)


def _publish(source: Path, target: Path, fsync: bool) -> None:
    if fsync:
        fd = os.open(source, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    os.replace(source, target)
    os.utime(target)  # published now, however long ago the last chunk arrived
