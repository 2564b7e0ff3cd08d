"""Uploads larger than a store's part size, in chunks that do not line up with its parts."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from cargohold.storage.base import Backend, ObjectNotFound
from tests.storage.test_backend import collect

MiB = 1024 * 1024
DATA = os.urandom(12 * MiB + 12_345)
CUTS = [3 * MiB + 7, 9 * MiB + 1000, len(DATA)]  # three appends, none on a part boundary


async def pieces(data: bytes, size: int = 64 * 1024 + 3) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def failing(data: bytes) -> AsyncIterator[bytes]:
    async for piece in pieces(data):
        yield piece
    raise ConnectionResetError("client went away")


async def upload(backend: Backend, key: str, data: bytes, cuts: list[int]) -> str:
    state = await backend.start_upload(key)
    offset = 0
    for cut in cuts:
        size, state = await backend.append_upload(key, state, offset, pieces(data[offset:cut]))
        assert size == cut
        offset = cut
    return state


async def test_a_large_upload_in_odd_chunks_is_read_back_whole(backend: Backend) -> None:
    state = await upload(backend, "uploads/big", DATA, CUTS)
    assert await collect(backend.read_upload("uploads/big", state)) == DATA
    await backend.publish_upload("uploads/big", state, "blobs/big")
    assert await backend.size("blobs/big") == len(DATA)
    assert await collect(backend.read("blobs/big")) == DATA


@pytest.mark.parametrize(
    ("offset", "length"), [(5 * MiB - 10, 20), (0, 10 * MiB + 1), (11 * MiB, None)]
)
async def test_ranges_across_part_boundaries(
    backend: Backend, offset: int, length: int | None
) -> None:
    state = await upload(backend, "uploads/ranged", DATA, CUTS)
    await backend.publish_upload("uploads/ranged", state, "blobs/ranged")
    end = None if length is None else offset + length
    assert await collect(backend.read("blobs/ranged", offset, length)) == DATA[offset:end]


async def test_a_failed_large_append_leaves_the_upload_at_its_offset(backend: Backend) -> None:
    state = await backend.start_upload("uploads/retry")
    size, state = await backend.append_upload("uploads/retry", state, 0, pieces(DATA[: 2 * MiB]))
    with pytest.raises(ConnectionResetError):
        await backend.append_upload("uploads/retry", state, size, failing(DATA[2 * MiB : 11 * MiB]))
    assert await collect(backend.read_upload("uploads/retry", state)) == DATA[: 2 * MiB]
    size, state = await backend.append_upload("uploads/retry", state, size, pieces(DATA[2 * MiB :]))
    assert size == len(DATA)
    await backend.publish_upload("uploads/retry", state, "blobs/retry")
    assert await collect(backend.read("blobs/retry")) == DATA


async def test_an_empty_upload_publishes_an_empty_object(backend: Backend) -> None:
    state = await backend.start_upload("uploads/empty")
    size, state = await backend.append_upload("uploads/empty", state, 0, pieces(b""))
    assert size == 0
    await backend.publish_upload("uploads/empty", state, "blobs/empty")
    assert await backend.size("blobs/empty") == 0
    assert await collect(backend.read("blobs/empty")) == b""


async def test_an_append_given_its_destination_appears_there_only_when_published(
    backend: Backend,
) -> None:
    state = await backend.start_upload("uploads/whole")
    size, state = await backend.append_upload(
        "uploads/whole", state, 0, pieces(DATA), "blobs/whole"
    )
    assert size == len(DATA)
    with pytest.raises(ObjectNotFound):
        await backend.size("blobs/whole")
    await backend.publish_upload("uploads/whole", state, "blobs/whole")
    assert await collect(backend.read("blobs/whole")) == DATA
    assert [key async for key in backend.list_uploads("uploads/")] == []


@pytest.mark.parametrize("keep_state", [True, False])
async def test_an_aborted_append_given_its_destination_leaves_nothing(
    backend: Backend, keep_state: bool
) -> None:
    """Aborted with its state, or without (garbage collection): nothing at the destination
    then, nor after an upload of the same blob published there."""
    state = await backend.start_upload("uploads/dropped")
    _, state = await backend.append_upload(
        "uploads/dropped", state, 0, pieces(DATA), "blobs/dropped"
    )
    await backend.abort_upload("uploads/dropped", state if keep_state else "")
    assert [key async for key in backend.list_uploads("uploads/")] == []
    with pytest.raises(ObjectNotFound):
        await backend.size("blobs/dropped")
    assert [key async for key in backend.list("blobs/")] == []


async def test_a_failed_append_given_its_destination_leaves_the_upload_empty(
    backend: Backend,
) -> None:
    state = await backend.start_upload("uploads/cut")
    with pytest.raises(ConnectionResetError):
        await backend.append_upload("uploads/cut", state, 0, failing(DATA), "blobs/cut")
    _, state = await backend.append_upload("uploads/cut", state, 0, pieces(DATA), "blobs/cut")
    await backend.publish_upload("uploads/cut", state, "blobs/cut")
    assert await collect(backend.read("blobs/cut")) == DATA
