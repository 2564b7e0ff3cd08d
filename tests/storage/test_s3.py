"""What only the S3 store has to get right: its part layout, snapshots of state, bad days."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from cargohold.oci.errors import Unavailable
from cargohold.storage.base import ObjectNotFound
from cargohold.storage.s3 import MIN_PART_SIZE, S3Backend
from tests.backends import SeaweedFS, free_port
from tests.storage.conftest import s3_backend
from tests.storage.test_backend import collect, stream
from tests.storage.test_large import pieces

MiB = 1024 * 1024


@pytest.fixture
async def store(seaweedfs_server: SeaweedFS) -> AsyncIterator[S3Backend]:
    backend = s3_backend(seaweedfs_server)
    yield backend
    await backend.close()


def objects(server: SeaweedFS, backend: S3Backend, prefix: str = "") -> dict[str, int]:
    client = server.client()
    listing = client.list_objects_v2(Bucket=server.bucket, Prefix=backend.prefix + prefix)
    return {
        item["Key"][len(backend.prefix) :]: item["Size"] for item in listing.get("Contents", [])
    }


async def test_parts_are_full_sized_but_the_last(
    seaweedfs_server: SeaweedFS, store: S3Backend
) -> None:
    data = os.urandom(11 * MiB + 5)
    state = await store.start_upload("uploads/p")
    offset = 0
    for cut in (1 * MiB, 1 * MiB + 1, 7 * MiB, len(data)):  # small appends merge through the tail
        offset, state = await store.append_upload(
            "uploads/p", state, offset, pieces(data[offset:cut])
        )
    parsed = json.loads(state)
    sizes = [size for _, count, size in parsed["runs"] for _ in range(count)]
    assert sizes == [MIN_PART_SIZE, MIN_PART_SIZE]
    assert parsed["tail"][1] == len(data) - 2 * MIN_PART_SIZE
    assert "uploads/p.upload/start" in objects(seaweedfs_server, store, "uploads/")

    await store.publish_upload("uploads/p", state, "blobs/p")

    assert objects(seaweedfs_server, store) == {"blobs/p": len(data)}
    assert await collect(store.read("blobs/p")) == data


async def test_an_earlier_state_stays_valid_after_later_appends(store: S3Backend) -> None:
    state = await store.start_upload("uploads/s")
    size, first = await store.append_upload("uploads/s", state, 0, stream(b"a" * 100))
    _, second = await store.append_upload("uploads/s", first, size, stream(b"b" * 100))
    assert await collect(store.read_upload("uploads/s", first)) == b"a" * 100
    assert await collect(store.read_upload("uploads/s", second)) == b"a" * 100 + b"b" * 100


async def test_racing_appends_from_one_state_do_not_mix(store: S3Backend) -> None:
    """Two nodes append at the same offset; whichever state the database keeps reads true."""
    state = await store.start_upload("uploads/race")
    size, state = await store.append_upload("uploads/race", state, 0, stream(b"x" * 10))
    one = os.urandom(6 * MiB)
    two = os.urandom(6 * MiB)
    _, state_one = await store.append_upload("uploads/race", state, size, pieces(one))
    _, state_two = await store.append_upload("uploads/race", state, size, pieces(two))
    assert await collect(store.read_upload("uploads/race", state_one)) == b"x" * 10 + one
    await store.publish_upload("uploads/race", state_two, "blobs/race")
    assert await collect(store.read("blobs/race")) == b"x" * 10 + two


async def test_an_aborted_upload_cannot_be_continued_or_published(
    seaweedfs_server: SeaweedFS, store: S3Backend
) -> None:
    state = await store.start_upload("uploads/gone")
    size, state = await store.append_upload("uploads/gone", state, 0, stream(b"data"))
    await store.abort_upload("uploads/gone", state)
    assert objects(seaweedfs_server, store) == {}
    with pytest.raises(ObjectNotFound):
        await store.append_upload("uploads/gone", state, size, stream(b"more"))
    with pytest.raises(ObjectNotFound):
        await store.publish_upload("uploads/gone", state, "blobs/gone")
    with pytest.raises(ObjectNotFound):
        await store.publish_upload("uploads/gone", '{"runs":[]}', "blobs/gone")


async def test_an_upload_whose_marker_is_gone_counts_as_dropped(
    seaweedfs_server: SeaweedFS, store: S3Backend
) -> None:
    """The `start` marker is the upload: with it gone (a half-finished drop), its parts are
    no upload, to read, append to or publish."""
    state = await store.start_upload("uploads/m")
    size, state = await store.append_upload("uploads/m", state, 0, stream(b"data"))
    seaweedfs_server.client().delete_object(
        Bucket=seaweedfs_server.bucket, Key=store.prefix + "uploads/m.upload/start"
    )
    with pytest.raises(ObjectNotFound):
        await collect(store.read_upload("uploads/m", state))
    with pytest.raises(ObjectNotFound):
        await store.append_upload("uploads/m", state, size, stream(b"more"))
    with pytest.raises(ObjectNotFound):
        await store.publish_upload("uploads/m", state, "blobs/m")
    assert "blobs/m" not in objects(seaweedfs_server, store)


async def test_keys_live_under_the_prefix(seaweedfs_server: SeaweedFS) -> None:
    one = s3_backend(seaweedfs_server, prefix="/tenant-one/")
    two = s3_backend(seaweedfs_server, prefix="tenant-two")
    try:
        state = await one.start_upload("uploads/k")
        _, state = await one.append_upload("uploads/k", state, 0, stream(b"k"))
        await one.publish_upload("uploads/k", state, "blobs/k")
        assert [key async for key in one.list("blobs/")] == ["blobs/k"]
        assert [key async for key in two.list("blobs/")] == []
        assert "tenant-one/blobs/k" in seaweedfs_server.list_keys("tenant-one/")
    finally:
        await one.close()
        await two.close()


def test_parts_are_large_enough_for_the_largest_object() -> None:
    backend = S3Backend(bucket="b", part_size=MIN_PART_SIZE, max_object_size=100 * 1024**3)
    assert backend.part_size * 10_000 >= 100 * 1024**3
    assert S3Backend(bucket="b", part_size=1).part_size == MIN_PART_SIZE


async def test_a_presigned_url_serves_ranges(store: S3Backend) -> None:
    data = os.urandom(4096)
    state = await store.start_upload("uploads/url")
    _, state = await store.append_upload("uploads/url", state, 0, stream(data))
    await store.publish_upload("uploads/url", state, "blobs/url")
    url = await store.presigned_url("blobs/url", 60)
    assert url is not None
    async with httpx.AsyncClient() as client:
        whole = await client.get(url)
        part = await client.get(url, headers={"Range": "bytes=100-199"})
    assert whole.status_code == 200 and whole.content == data
    assert part.status_code == 206 and part.content == data[100:200]


async def test_an_unreachable_store_is_unavailable_within_seconds(
    seaweedfs_server: SeaweedFS,
) -> None:
    backend = s3_backend(seaweedfs_server, endpoint=f"http://127.0.0.1:{free_port()}")
    try:
        for attempt in (
            lambda: backend.size("blobs/x"),
            lambda: backend.start_upload("uploads/x"),
            lambda: collect(backend.read("blobs/x")),
            backend.check,
        ):
            started = time.monotonic()
            with pytest.raises(Unavailable) as caught:
                await attempt()
            assert time.monotonic() - started < 3.0
            assert caught.value.http_status == 503
            assert caught.value.detail == {"component": "storage"}
    finally:
        await backend.close()


async def test_wrong_credentials_or_bucket_are_unavailable(seaweedfs_server: SeaweedFS) -> None:
    wrong_key = s3_backend(seaweedfs_server, secret_key="not-the-secret")
    no_bucket = s3_backend(seaweedfs_server, bucket="no-such-bucket")
    try:
        with pytest.raises(Unavailable, match="object store"):
            await wrong_key.start_upload("uploads/x")
        with pytest.raises(Unavailable, match="object store"):
            await wrong_key.check()
        with pytest.raises(Unavailable, match="does not exist"):
            await no_bucket.check()
    finally:
        await wrong_key.close()
        await no_bucket.close()


async def test_an_append_given_its_destination_is_written_there_and_never_copied(
    seaweedfs_server: SeaweedFS, store: S3Backend
) -> None:
    """A monolithic push's bytes go to a multipart upload at the blob's key: publishing
    completes it (no copy of the parts), and the upload takes no more appends meanwhile."""
    data = os.urandom(11 * MiB + 5)
    state = await store.start_upload("uploads/d")
    size, state = await store.append_upload("uploads/d", state, 0, pieces(data), "blobs/d")
    uploads = seaweedfs_server.client().list_multipart_uploads(
        Bucket=seaweedfs_server.bucket, Prefix=store.prefix
    )
    assert [u["Key"] for u in uploads.get("Uploads", [])] == [store.prefix + "blobs/d"]
    assert not [k for k in objects(seaweedfs_server, store) if "-0000" in k or "-tail" in k]
    with pytest.raises(ValueError):
        await store.append_upload("uploads/d", state, size, stream(b"more"))
    with pytest.raises(ValueError):
        await collect(store.read_upload("uploads/d", state))
    with pytest.raises(ValueError):
        await store.publish_upload("uploads/d", state, "blobs/elsewhere")

    await store.publish_upload("uploads/d", state, "blobs/d")

    assert objects(seaweedfs_server, store) == {"blobs/d": len(data)}
    assert await collect(store.read("blobs/d")) == data


async def test_an_abort_without_state_finds_the_multipart_upload_at_the_destination(
    seaweedfs_server: SeaweedFS, store: S3Backend
) -> None:
    state = await store.start_upload("uploads/o")
    await store.append_upload("uploads/o", state, 0, pieces(os.urandom(6 * MiB)), "blobs/o")
    await store.abort_upload("uploads/o", "")
    uploads = seaweedfs_server.client().list_multipart_uploads(
        Bucket=seaweedfs_server.bucket, Prefix=store.prefix
    )
    assert uploads.get("Uploads", []) == []
    assert objects(seaweedfs_server, store) == {}
