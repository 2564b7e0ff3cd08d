"""The Backend contract: what every store must do, tested the same way on each."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from cargohold.storage.base import CHUNK_SIZE, Backend, ObjectNotFound


async def stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def failing_stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    raise ConnectionResetError("client went away")


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def publish(backend: Backend, key: str, data: bytes) -> None:
    state = await backend.start_upload("uploads/" + key)
    _, state = await backend.append_upload("uploads/" + key, state, 0, stream(data))
    await backend.publish_upload("uploads/" + key, state, key)


async def test_an_upload_is_invisible_until_published(backend: Backend) -> None:
    state = await backend.start_upload("uploads/u1")
    size, state = await backend.append_upload("uploads/u1", state, 0, stream(b"abc", b"def"))
    assert size == 6
    with pytest.raises(ObjectNotFound):
        await backend.size("blobs/x")
    await backend.publish_upload("uploads/u1", state, "blobs/x")
    assert await backend.size("blobs/x") == 6
    assert await collect(backend.read("blobs/x")) == b"abcdef"


async def test_appends_continue_at_the_offset(backend: Backend) -> None:
    state = await backend.start_upload("uploads/u2")
    size, state = await backend.append_upload("uploads/u2", state, 0, stream(b"hello "))
    size, state = await backend.append_upload("uploads/u2", state, size, stream(b"world"))
    assert size == 11
    assert await collect(backend.read_upload("uploads/u2", state)) == b"hello world"


async def test_a_failed_append_leaves_the_upload_at_its_offset(backend: Backend) -> None:
    state = await backend.start_upload("uploads/u3")
    size, state = await backend.append_upload("uploads/u3", state, 0, stream(b"keep"))
    with pytest.raises(ConnectionResetError):
        await backend.append_upload("uploads/u3", state, size, failing_stream(b"lose", b"this"))
    assert await collect(backend.read_upload("uploads/u3", state)) == b"keep"


async def test_publishing_replaces_an_existing_object(backend: Backend) -> None:
    await publish(backend, "blobs/same", b"one")
    await publish(backend, "blobs/same", b"two")
    assert await collect(backend.read("blobs/same")) == b"two"


async def test_read_honours_offset_and_length(backend: Backend) -> None:
    data = bytes(range(256)) * (CHUNK_SIZE // 128)
    await publish(backend, "blobs/big", data)
    assert await collect(backend.read("blobs/big", 10, 5)) == data[10:15]
    assert (
        await collect(backend.read("blobs/big", CHUNK_SIZE - 3, 10))
        == data[CHUNK_SIZE - 3 : CHUNK_SIZE + 7]
    )
    assert await collect(backend.read("blobs/big", len(data) - 4)) == data[-4:]


async def test_missing_objects_raise_object_not_found(backend: Backend) -> None:
    with pytest.raises(ObjectNotFound):
        await backend.size("blobs/none")
    with pytest.raises(ObjectNotFound):
        await collect(backend.read("blobs/none"))
    with pytest.raises(ObjectNotFound):
        await backend.append_upload("uploads/none", "", 0, stream(b"x"))
    with pytest.raises(ObjectNotFound):
        await backend.publish_upload("uploads/none", "", "blobs/none")


async def test_abort_drops_the_upload_and_ignores_unknown_ones(backend: Backend) -> None:
    state = await backend.start_upload("uploads/u4")
    await backend.append_upload("uploads/u4", state, 0, stream(b"data"))
    await backend.abort_upload("uploads/u4", state)
    await backend.abort_upload("uploads/u4", state)
    with pytest.raises(ObjectNotFound):
        await collect(backend.read_upload("uploads/u4", state))


async def test_delete_removes_and_ignores_absent_objects(backend: Backend) -> None:
    await publish(backend, "blobs/gone", b"x")
    await backend.delete("blobs/gone")
    await backend.delete("blobs/gone")
    with pytest.raises(ObjectNotFound):
        await backend.size("blobs/gone")


async def test_list_finds_published_objects_by_prefix(backend: Backend) -> None:
    await publish(backend, "blobs/sha256/aa/one", b"1")
    await publish(backend, "blobs/sha256/bb/two", b"2")
    await publish(backend, "other/three", b"3")
    await backend.start_upload("uploads/pending")
    keys = sorted([key async for key in backend.list("blobs/")])
    assert keys == ["blobs/sha256/aa/one", "blobs/sha256/bb/two"]


async def test_modified_is_when_the_object_was_published(backend: Backend) -> None:
    before = time.time()
    await publish(backend, "blobs/when", b"w")
    assert before - 2 <= await backend.modified("blobs/when") <= time.time() + 2
    with pytest.raises(ObjectNotFound):
        await backend.modified("blobs/never")


async def test_list_uploads_finds_started_uploads_with_their_time(backend: Backend) -> None:
    before = time.time()
    await backend.start_upload("uploads/first")
    state = await backend.start_upload("uploads/second")
    await backend.append_upload("uploads/second", state, 0, stream(b"data"))
    await publish(backend, "blobs/done", b"d")
    await backend.start_upload("elsewhere/third")
    found = dict([item async for item in backend.list_uploads("uploads/")])
    assert sorted(found) == ["uploads/first", "uploads/second"]
    assert all(before - 2 <= when <= time.time() + 2 for when in found.values())
    await backend.abort_upload("uploads/first", "")
    assert [key async for key, _ in backend.list_uploads("uploads/")] == ["uploads/second"]
    assert [key async for key, _ in backend.list_uploads("elsewhere/")] == ["elsewhere/third"]


async def test_a_range_that_runs_past_the_end_stops_at_the_end(backend: Backend) -> None:
    await publish(backend, "blobs/short", b"0123456789")
    assert await collect(backend.read("blobs/short", 6, 100)) == b"6789"


async def test_a_range_that_starts_past_the_end_is_empty(backend: Backend) -> None:
    await publish(backend, "blobs/short", b"0123456789")
    assert await collect(backend.read("blobs/short", 20, 5)) == b""


async def test_abort_without_its_state_still_drops_the_upload(backend: Backend) -> None:
    """Garbage collection finds leftover uploads by key and has no session row."""
    state = await backend.start_upload("uploads/orphan")
    await backend.append_upload("uploads/orphan", state, 0, stream(b"x" * 100))
    await backend.abort_upload("uploads/orphan", "")
    assert [key async for key, _ in backend.list_uploads("uploads/")] == []


async def test_a_local_path_when_offered_holds_the_object(backend: Backend) -> None:
    await publish(backend, "blobs/local", b"on disk")
    path = backend.local_path("blobs/local")
    if path is not None:  # None: the store keeps no files, which is all it must say
        assert path.read_bytes() == b"on disk"


async def test_a_presigned_url_when_offered_serves_the_object(backend: Backend) -> None:
    await publish(backend, "blobs/signed", b"fetch me")
    url = await backend.presigned_url("blobs/signed", 60)
    if url is not None:  # None: the store cannot sign URLs, which is all it must say
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
        assert response.status_code == 200
        assert response.content == b"fetch me"


async def test_check_passes_on_a_healthy_store(backend: Backend) -> None:
    await backend.check()


async def test_check_writes_nothing(backend: Backend) -> None:
    await backend.check()
    assert [key async for key in backend.list("")] == []
    assert [key async for key in backend.list_uploads("")] == []


async def test_close_can_be_called_twice(backend: Backend) -> None:
    await backend.check()
    await backend.close()
    await backend.close()


async def test_a_closed_store_keeps_its_objects_and_serves_them_again(backend: Backend) -> None:
    await publish(backend, "blobs/kept", b"still here")
    await backend.close()
    await backend.check()
    assert await collect(backend.read("blobs/kept")) == b"still here"
