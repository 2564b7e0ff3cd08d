"""A Backend that times every call of the Backend it wraps, and counts its failures, for
the metrics (`cargohold_storage_operation_duration_seconds`, `cargohold_storage_errors`).

Streams (`read`, `read_upload`, `list`, `list_uploads`) are timed until their first item
(or their end, when empty): the store's latency, not the client's pace. `append_upload`
takes its bytes from the client, so its time includes the client's. `ObjectNotFound` is
an answer, not a failure; `Unavailable` counts as `unavailable`, anything else as
`other`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import TypeVar

from cargohold import metrics
from cargohold.oci.errors import Unavailable
from cargohold.storage.base import Backend, ObjectNotFound

T = TypeVar("T")


def _kind(exc: BaseException) -> str | None:
    if isinstance(exc, ObjectNotFound):
        return None
    return "unavailable" if isinstance(exc, Unavailable) else "other"


async def _timed(operation: str, call: Awaitable[T]) -> T:
    started = time.perf_counter()
    try:
        result = await call
    except Exception as exc:
        metrics.observe_storage(operation, time.perf_counter() - started, _kind(exc))
        raise
    metrics.observe_storage(operation, time.perf_counter() - started)
    return result


async def _timed_stream(operation: str, stream: AsyncIterator[T]) -> AsyncIterator[T]:
    started: float | None = time.perf_counter()
    try:
        async for item in stream:
            if started is not None:
                metrics.observe_storage(operation, time.perf_counter() - started)
                started = None
            yield item
    except Exception as exc:
        if started is not None:
            metrics.observe_storage(operation, time.perf_counter() - started, _kind(exc))
        else:
            metrics.count_storage_error(operation, _kind(exc))
        raise
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
    if started is not None:
        metrics.observe_storage(operation, time.perf_counter() - started)


class MeasuredBackend:
    """`inner`, measured. Implements the whole Backend protocol by delegation."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    async def size(self, key: str) -> int:
        return await _timed("size", self.inner.size(key))

    def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        return _timed_stream("read", self.inner.read(key, offset, length))

    def local_path(self, key: str) -> Path | None:
        return self.inner.local_path(key)  # no I/O: nothing to measure

    async def presigned_url(self, key: str, expires: int) -> str | None:
        return await _timed("presigned_url", self.inner.presigned_url(key, expires))

    async def delete(self, key: str) -> None:
        await _timed("delete", self.inner.delete(key))

    def list(self, prefix: str) -> AsyncIterator[str]:
        return _timed_stream("list", self.inner.list(prefix))

    async def modified(self, key: str) -> float:
        return await _timed("modified", self.inner.modified(key))

    def list_uploads(self, prefix: str) -> AsyncIterator[tuple[str, float]]:
        return _timed_stream("list_uploads", self.inner.list_uploads(prefix))

    async def start_upload(self, key: str) -> str:
        return await _timed("start_upload", self.inner.start_upload(key))

    async def append_upload(
        self,
        key: str,
        state: str,
        offset: int,
        chunks: AsyncIterator[bytes],
        dest: str | None = None,
    ) -> tuple[int, str]:
        appending = self.inner.append_upload(key, state, offset, chunks, dest)
        return await _timed("append_upload", appending)

    def read_upload(self, key: str, state: str) -> AsyncIterator[bytes]:
        return _timed_stream("read_upload", self.inner.read_upload(key, state))

    async def publish_upload(self, key: str, state: str, dest: str) -> None:
        await _timed("publish_upload", self.inner.publish_upload(key, state, dest))

    async def abort_upload(self, key: str, state: str) -> None:
        await _timed("abort_upload", self.inner.abort_upload(key, state))

    async def check(self) -> None:
        await _timed("check", self.inner.check())

    async def close(self) -> None:
        await self.inner.close()
