"""The Backend protocol: the whole contract between the services and a byte store.

Every store defines every method, and passes one shared suite (tests/storage/test_backend.py).
An optional capability (a local file, a pre-signed URL) is part of the contract too: a
store that has none answers None, and callers never probe a store for what it can do.
"""

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

    Keys are relative, `/`-separated paths, all built in storage/paths.py; a store
    that maps them onto paths (filesystem, S3) refuses a malformed one (empty,
    absolute or with a `..` part) with ValueError.

    Errors: ObjectNotFound where a method says so. Any method that reaches the store
    may raise `Unavailable` (cargohold.oci.errors, a 503 with `{"component": "storage"}`
    as its detail) when the store cannot be reached, is overloaded or refuses our
    credentials; callers let it through. A stream (`read`, `read_upload`, `list`,
    `list_uploads`) raises once it is iterated, not when it is made.
    """

    async def size(self, key: str) -> int:
        """Size in bytes; ObjectNotFound when absent."""
        ...

    def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream `length` bytes (all when None) from `offset`; ObjectNotFound when absent.

        A range that runs past the end stops at the end; one that starts past it is empty.
        """
        ...

    def local_path(self, key: str) -> Path | None:
        """Optional: a file the server may send directly (zero-copy); None when the store
        keeps no files (memory, S3).

        The path is where the object's file is when it exists: the caller checks that it
        does. Never does I/O and never raises for a well-formed key.
        """
        ...

    async def presigned_url(self, key: str, expires: int) -> str | None:
        """Optional: a URL clients may GET the object from themselves for `expires` seconds
        (Range requests included); None when the store cannot sign URLs (filesystem,
        memory).

        Does not check that the object exists: the caller already knows it does.
        """
        ...

    async def delete(self, key: str) -> None:
        """Remove an object; absent objects are ignored."""
        ...

    def list(self, prefix: str) -> AsyncIterator[str]:
        """Every published key that starts with `prefix`, in no particular order; uploads
        are never listed here (see `list_uploads`)."""
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
        self,
        key: str,
        state: str,
        offset: int,
        chunks: AsyncIterator[bytes],
        dest: str | None = None,
    ) -> tuple[int, str]:
        """Write `chunks` at `offset` (the size `state` stands for); returns (new size, new
        state). ObjectNotFound when the upload was never started or was dropped.

        `dest`, on a first append (`offset` 0) only: this append is the upload's whole
        content, and the upload will be published at `dest` or aborted, nothing else. A
        store may then write the bytes where `dest` will be (S3: a multipart upload at
        `dest`, which publishing completes instead of copying the bytes), and such an
        upload takes no further append and is not read back with `read_upload`: both
        raise ValueError, as does publishing it at another key. Stores that gain nothing
        from it ignore it.

        If the stream raises, the upload is put back to `offset` and the error
        propagates: a chunk is taken whole or not at all. Bytes past `offset` that an
        append which died midway left behind are dropped; a store whose state records
        the size (S3) refuses any other offset with ValueError.
        """
        ...

    def read_upload(self, key: str, state: str) -> AsyncIterator[bytes]:
        """Stream the bytes written to an upload so far (to recompute its digest);
        ObjectNotFound when the upload was never started or was dropped."""
        ...

    async def publish_upload(self, key: str, state: str, dest: str) -> None:
        """Atomically make the upload's bytes the object `dest` (replacing any object
        there) and drop the upload; ObjectNotFound when the upload was never started or
        was dropped."""
        ...

    async def abort_upload(self, key: str, state: str) -> None:
        """Drop an upload and its bytes; unknown uploads are ignored.

        `state` may be "" (garbage collection finds uploads by key and has no session
        row): the upload is dropped all the same.
        """
        ...

    async def check(self) -> None:
        """Readiness: return when the store answers now; raise Unavailable when it does
        not (unreachable, its bucket or directory missing, our credentials refused).

        One cheap request at most, and it writes nothing. A store that is always there
        (memory) returns at once.
        """
        ...

    async def close(self) -> None:
        """Release what the store holds open (S3's connection pool); its content stays.

        Closing twice is harmless, and a closed store opens what it needs again on its
        next use. Nothing to release (filesystem, memory): it returns at once.
        """
        ...
