"""The Backend protocol every store implements, and passes one shared test suite for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

CHUNK_SIZE = 1024 * 1024


class ObjectNotFound(Exception):
    """The key names no object (or no upload)."""


class Backend(Protocol):
    """A key → bytes store.

    Uploads are temporary objects written in order, one chunk stream at a time,
    and then published under their final key in one atomic step: a reader sees
    the whole object or nothing. `state` is an opaque string the caller keeps
    (in the upload session row) and hands back, so any process can continue
    an upload.
    """

    async def size(self, key: str) -> int:
        """Size in bytes; ObjectNotFound when absent."""
        ...

    def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream `length` bytes (all when None) from `offset`; ObjectNotFound when absent."""
        ...

    def local_path(self, key: str) -> Path | None:
        """A file the server may send directly (zero-copy), when the store has one."""
        ...

    async def presigned_url(self, key: str, expires: int) -> str | None:
        """A URL clients may GET the object from themselves for `expires` seconds (Range
        requests included), when the store has such URLs."""
        ...

    async def delete(self, key: str) -> None:
        """Remove an object; absent objects are ignored."""
        ...

    def list(self, prefix: str) -> AsyncIterator[str]:
        """Every key that starts with `prefix`, in no particular order."""
        ...

    async def modified(self, key: str) -> float:
        """When the object was last written (seconds since the epoch); ObjectNotFound when
        absent. Publishing over an object counts as writing it."""
        ...

    def list_uploads(self, prefix: str) -> AsyncIterator[tuple[str, float]]:
        """Every upload whose key starts with `prefix` (the key it was started with) and
        when it was last written, so garbage collection can find uploads whose session is
        gone."""
        ...

    async def start_upload(self, key: str) -> str:
        """Create an empty temporary object; returns its state."""
        ...

    async def append_upload(
        self, key: str, state: str, offset: int, chunks: AsyncIterator[bytes]
    ) -> tuple[int, str]:
        """Write `chunks` at `offset` (the current size); returns (new size, new state).

        If the stream raises, the upload is put back to `offset` and the error
        propagates: a chunk is taken whole or not at all.
        """
        ...

    def read_upload(self, key: str, state: str) -> AsyncIterator[bytes]:
        """Stream the bytes written to an upload so far (to recompute its digest)."""
        ...

    async def publish_upload(self, key: str, state: str, dest: str) -> None:
        """Atomically make the upload's bytes the object `dest` and drop the upload."""
        ...

    async def abort_upload(self, key: str, state: str) -> None:
        """Drop an upload and its bytes; unknown uploads are ignored."""
        ...
