"""An in-process store for tests and throwaway servers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

from cargohold.storage.base import CHUNK_SIZE, ObjectNotFound


class MemoryBackend:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.uploads: dict[str, bytearray] = {}
        self.times: dict[str, float] = {}  # when each object or upload was last written

    async def size(self, key: str) -> int:
        try:
            return len(self.objects[key])
        except KeyError:
            raise ObjectNotFound(key) from None

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        try:
            data = self.objects[key]
        except KeyError:
            raise ObjectNotFound(key) from None
        end = len(data) if length is None else min(len(data), offset + length)
        for start in range(offset, end, CHUNK_SIZE):
            yield data[start : min(start + CHUNK_SIZE, end)]

    def local_path(self, key: str) -> Path | None:
        return None

    async def presigned_url(self, key: str, expires: int) -> str | None:
        return None

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    async def list(self, prefix: str) -> AsyncIterator[str]:
        for key in list(self.objects):
            if key.startswith(prefix):
                yield key

    async def modified(self, key: str) -> float:
        if key not in self.objects:
            raise ObjectNotFound(key)
        return self.times[key]

    async def list_uploads(self, prefix: str) -> AsyncIterator[tuple[str, float]]:
        for key in list(self.uploads):
            if key.startswith(prefix):
                yield key, self.times[key]

    async def start_upload(self, key: str) -> str:
        self.uploads[key] = bytearray()
        self.times[key] = time.time()
        return ""

    async def append_upload(
        self,
        key: str,
        state: str,
        offset: int,
        chunks: AsyncIterator[bytes],
        dest: str | None = None,
    ) -> tuple[int, str]:
        try:
            buffer = self.uploads[key]
        except KeyError:
            raise ObjectNotFound(key) from None
        del buffer[offset:]
        self.times[key] = time.time()
        try:
            async for chunk in chunks:
                buffer += chunk
        except BaseException:
            del buffer[offset:]
            raise
        return len(buffer), state

    async def read_upload(self, key: str, state: str) -> AsyncIterator[bytes]:
        try:
            data = bytes(self.uploads[key])
        except KeyError:
            raise ObjectNotFound(key) from None
        for start in range(0, len(data), CHUNK_SIZE):
            yield data[start : start + CHUNK_SIZE]

    async def publish_upload(self, key: str, state: str, dest: str) -> None:
        try:
            self.objects[dest] = bytes(self.uploads.pop(key))
            self.times[dest] = time.time()
        except KeyError:
            raise ObjectNotFound(key) from None

    async def abort_upload(self, key: str, state: str) -> None:
        self.uploads.pop(key, None)

    async def check(self) -> None:
        """Always there."""

    async def close(self) -> None:
        """Nothing to release; the objects stay for as long as the process."""
