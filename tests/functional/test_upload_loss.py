"""An upload session whose stored bytes are gone ends with 404 BLOB_UPLOAD_UNKNOWN, so the
client starts over; never a 500, never a session row left pointing at nothing.

How a row could outlive its bytes: finishing publishes the upload (which drops its stored
bytes: a rename, or on S3 a copy and then deleting the parts and the `start` marker) and
only then deletes the row with the blob's rows. A node killed in between left the row; the
PUT retried on another node found no marker and answered 500. Now the row is marked as
finishing before publishing, and every request refuses a marked session."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable
from typing import Any

import botocore.session
import httpx
import pytest
from botocore.config import Config

from cargohold.config import Settings
from cargohold.oci.digest import Digest
from cargohold.oci.errors import Unavailable
from cargohold.storage.paths import blob_key
from tests.functional.registry import Registry, digest_of, error_code, random_blob

NAME = "acme/web"


@pytest.fixture(params=["filesystem", "s3"])
def settings(request: pytest.FixtureRequest, fresh_settings: Callable[..., Settings]) -> Settings:
    """The filesystem store, and S3 (SeaweedFS), whatever the run tests."""
    store: dict[str, Any] = {"storage": "filesystem"}
    if request.param == "s3":
        server = request.getfixturevalue("seaweedfs_server")
        store = server.settings(prefix=f"loss-{secrets.token_hex(6)}/")
    return fresh_settings(auth="none", **store)


def lose_stored_bytes(registry: Registry, upload_id: str) -> None:
    """Behind the session's back: the upload's file, or on S3 its `start` marker, is gone."""
    settings = registry.context.settings
    if settings.storage != "s3":
        (settings.blob_dir / "uploads" / f"{upload_id}.upload").unlink()
        return
    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=settings.s3_endpoint,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key,
        aws_secret_access_key=settings.s3_secret_key,
        config=Config(s3={"addressing_style": "path"}),
    )
    marker = f"{settings.s3_prefix}uploads/{upload_id}.upload/start"
    client.head_object(Bucket=settings.s3_bucket, Key=marker)  # it was there
    client.delete_object(Bucket=settings.s3_bucket, Key=marker)


async def started_with(registry: Registry, data: bytes) -> str:
    started = await registry.client.post(f"/v2/{NAME}/blobs/uploads/")
    patched = await registry.client.patch(
        started.headers["location"],
        content=data,
        headers={"Content-Range": f"0-{len(data) - 1}"},
    )
    assert patched.status_code == 202, patched.text
    location: str = patched.headers["location"]
    return location


def upload_id(location: str) -> str:
    return location.rsplit("/", 1)[1]


def assert_unknown(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])  # hash kept / read back
async def test_finishing_an_upload_whose_stored_bytes_are_gone_is_404_and_ends_it(
    registry: Registry, algorithm: str
) -> None:
    data = random_blob(6000)
    location = await started_with(registry, data)
    lose_stored_bytes(registry, upload_id(location))

    done = await registry.client.put(location, params={"digest": digest_of(data, algorithm)})

    assert_unknown(done)
    assert await registry.rows("uploads") == []
    assert await registry.rows("blobs") == []
    assert_unknown(await registry.client.get(location))
    again = await registry.client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"digest": digest_of(data)}, content=data
    )
    assert again.status_code == 201, again.text


async def test_a_chunk_for_an_upload_whose_stored_bytes_are_gone_is_404_and_ends_it(
    registry: Registry,
) -> None:
    data = random_blob(6000)
    location = await started_with(registry, data[:1000])
    lose_stored_bytes(registry, upload_id(location))

    patched = await registry.client.patch(
        location, content=data[1000:], headers={"Content-Range": f"1000-{len(data) - 1}"}
    )

    assert_unknown(patched)
    assert await registry.rows("uploads") == []
    assert_unknown(await registry.client.get(location))


async def test_a_finish_cut_off_after_publishing_leaves_a_session_every_request_refuses(
    registry: Registry,
) -> None:
    """As a node killed between publishing the bytes and writing the rows: the PUT retried
    elsewhere, a status check, a chunk, all answer 404; the client pushes the blob again."""
    data = random_blob(6000)
    digest = digest_of(data)
    location = await started_with(registry, data)
    storage = registry.context.storage
    published = asyncio.Event()
    publish = storage.publish_upload

    async def publish_then_stall(key: str, state: str, dest: str) -> None:
        await publish(key, state, dest)
        # A collection of this digest begins: the finish waits for it, and dies there.
        await registry.context.db.execute(
            "INSERT INTO blob_tombstones (digest, since) VALUES (:d, :now)",
            {"d": digest, "now": registry.context.now()},
        )
        published.set()

    storage.publish_upload = publish_then_stall  # type: ignore[method-assign]
    finishing = asyncio.ensure_future(registry.client.put(location, params={"digest": digest}))
    await asyncio.wait_for(published.wait(), 30)
    finishing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await finishing
    storage.publish_upload = publish  # type: ignore[method-assign]
    await registry.context.db.execute("DELETE FROM blob_tombstones")
    assert await storage.size(blob_key(Digest.parse(digest))) == len(data)  # bytes, no rows
    assert await registry.rows("blobs") == []

    assert_unknown(await registry.client.put(location, params={"digest": digest}))
    assert_unknown(await registry.client.get(location))
    assert_unknown(
        await registry.client.patch(location, content=b"x", headers={"Content-Range": "6000-6000"})
    )
    again = await registry.client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"digest": digest}, content=data
    )
    assert again.status_code == 201, again.text
    pulled = await registry.client.get(f"/v2/{NAME}/blobs/{digest}")
    assert hashlib.sha256(pulled.content).hexdigest() == digest.removeprefix("sha256:")


async def test_a_finish_the_store_refused_keeps_the_session_for_a_retry(
    registry: Registry,
) -> None:
    """Marking the session as finishing is undone when publishing failed with the bytes
    still there (a store that was down for a moment)."""
    data = random_blob(6000)
    location = await started_with(registry, data)
    storage = registry.context.storage
    publish = storage.publish_upload

    async def store_down(key: str, state: str, dest: str) -> None:
        raise Unavailable("the object store is unavailable", detail={"component": "storage"})

    storage.publish_upload = store_down  # type: ignore[method-assign]
    assert registry.app is not None
    transport = httpx.ASGITransport(app=registry.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as client:
        refused = await client.put(location, params={"digest": digest_of(data)})
    storage.publish_upload = publish  # type: ignore[method-assign]
    assert refused.status_code == 503, refused.text

    status = await registry.client.get(location)
    assert status.status_code == 204 and status.headers["range"] == f"0-{len(data) - 1}"
    done = await registry.client.put(location, params={"digest": digest_of(data)})
    assert done.status_code == 201, done.text
    assert await registry.rows("uploads") == []
