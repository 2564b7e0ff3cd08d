"""Uploads continue in any process: hash state is a per-process cache, never trusted blindly."""

from __future__ import annotations

import hashlib

from tests.functional.registry import Registry, digest_of, random_blob


async def _patch(registry: Registry, location: str, data: bytes, start: int) -> str:
    response = await registry.client.patch(
        location,
        content=data,
        headers={"Content-Range": f"{start}-{start + len(data) - 1}"},
    )
    assert response.status_code == 202, response.text
    return response.headers["location"]


async def test_an_upload_finished_by_another_process_recomputes_the_digest(
    registry: Registry,
) -> None:
    data = random_blob(300_000)
    location = await registry.start_upload("acme/web")
    location = await _patch(registry, location, data[:100_000], 0)
    registry.context.hashes = type(registry.context.hashes)()  # a different process
    location = await _patch(registry, location, data[100_000:], 100_000)
    response = await registry.client.put(location, params={"digest": digest_of(data)})
    assert response.status_code == 201, response.text
    pulled = await registry.client.get(f"/v2/acme/web/blobs/{digest_of(data)}")
    assert pulled.content == data


async def test_a_stale_hash_state_is_not_trusted(registry: Registry) -> None:
    data = random_blob(200_000)
    location = await registry.start_upload("acme/web")
    location = await _patch(registry, location, data[:50_000], 0)
    upload_id = location.rsplit("/", 1)[1]
    stale = registry.context.hashes.take(upload_id, 50_000)
    assert stale is not None
    location = await _patch(registry, location, data[50_000:], 50_000)
    registry.context.hashes.put(upload_id, stale)  # another process's out-of-date state
    response = await registry.client.put(location, params={"digest": digest_of(data)})
    assert response.status_code == 201, response.text


async def test_sha512_digests_are_verified(registry: Registry) -> None:
    data = random_blob(10_000)
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    location = await registry.start_upload("acme/web")
    response = await registry.client.put(location, params={"digest": digest}, content=data)
    assert response.status_code == 201, response.text
    assert response.headers["docker-content-digest"] == digest
    pulled = await registry.client.get(f"/v2/acme/web/blobs/{digest}")
    assert pulled.content == data
