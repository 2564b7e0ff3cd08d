"""The metrics' storage wrapper times every call by operation and counts what failed by
kind; a missing object is an answer, not a failure. (The shared suite runs on it too, as
`measured`: it keeps the whole Backend contract.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from prometheus_client import REGISTRY

from cargohold import metrics
from cargohold.oci.errors import Unavailable
from cargohold.storage.base import ObjectNotFound
from cargohold.storage.measured import MeasuredBackend
from cargohold.storage.memory import MemoryBackend


def sample(name: str, **labels: str) -> float:
    metrics.flush()
    return REGISTRY.get_sample_value(name, labels) or 0.0


def calls(operation: str) -> float:
    return sample("cargohold_storage_operation_duration_seconds_count", operation=operation)


def errors(operation: str, kind: str) -> float:
    return sample("cargohold_storage_errors_total", operation=operation, kind=kind)


class Down(MemoryBackend):
    """A store that cannot be reached."""

    async def size(self, key: str) -> int:
        raise Unavailable("the store is down", detail={"component": "storage"})

    async def delete(self, key: str) -> None:
        raise RuntimeError("a bug")

    async def _chunks(self) -> AsyncIterator[bytes]:
        yield b"first"
        raise Unavailable("the store went away midway")

    def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        return self._chunks()


@pytest.fixture
def store() -> Iterator[MeasuredBackend]:
    yield MeasuredBackend(MemoryBackend())


async def test_every_call_is_timed_under_its_operation(store: MeasuredBackend) -> None:
    before = calls("publish_upload"), calls("read")
    state = await store.start_upload("uploads/a")
    _, state = await store.append_upload("uploads/a", state, 0, _stream(b"data"))
    await store.publish_upload("uploads/a", state, "blobs/a")
    assert b"".join([chunk async for chunk in store.read("blobs/a")]) == b"data"

    assert (calls("publish_upload"), calls("read")) == (before[0] + 1, before[1] + 1)


async def test_a_missing_object_is_an_answer_not_a_failure(store: MeasuredBackend) -> None:
    before = errors("size", "other"), errors("read", "other")
    with pytest.raises(ObjectNotFound):
        await store.size("blobs/missing")
    with pytest.raises(ObjectNotFound):
        [chunk async for chunk in store.read("blobs/missing")]

    assert (errors("size", "other"), errors("read", "other")) == before


async def test_an_unreachable_store_counts_as_unavailable_and_a_bug_as_other() -> None:
    store = MeasuredBackend(Down())
    before = errors("size", "unavailable"), errors("delete", "other")
    with pytest.raises(Unavailable):
        await store.size("blobs/a")
    with pytest.raises(RuntimeError):
        await store.delete("blobs/a")

    assert (errors("size", "unavailable"), errors("delete", "other")) == (
        before[0] + 1,
        before[1] + 1,
    )


async def test_a_stream_that_fails_midway_counts_as_a_failure_of_its_operation() -> None:
    store = MeasuredBackend(Down())
    before = calls("read"), errors("read", "unavailable")
    received = []
    with pytest.raises(Unavailable):
        async for chunk in store.read("blobs/a"):
            received.append(chunk)

    assert received == [b"first"]
    assert calls("read") == before[0] + 1  # timed once, to its first chunk
    assert errors("read", "unavailable") == before[1] + 1


async def _stream(data: bytes) -> AsyncIterator[bytes]:
    yield data
