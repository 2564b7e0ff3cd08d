"""Every change through /v2 leaves an event in its own transaction (docs/audit.md): what
was pushed or deleted, by whom, from where; a refused or rolled-back change leaves none."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cargohold.oci.errors import Denied
from cargohold.services.events import outbox
from tests.functional.registry import Registry, digest_of, image_manifest, random_blob

NAME = "acme/app"


async def events(registry: Registry, action: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM events" + (" WHERE action = :action" if action else "") + " ORDER BY id"
    rows = await registry.context.db.fetchall(sql, {"action": action} if action else {})
    found = [dict(row) for row in rows]
    for event in found:
        event["data"] = json.loads(event["data"]) if event["data"] else {}
    return found


async def test_a_push_by_tag_records_manifest_pushed_with_the_tag(registry: Registry) -> None:
    image = image_manifest([random_blob(100)])
    await registry.push_image(NAME, "v1", image)
    [event] = await events(registry, "manifest.pushed")
    assert (event["workspace"], event["package"], event["tag"]) == ("acme", NAME, "v1")
    assert event["digest"] == image.digest
    assert event["target"] == f"{NAME}:v1"
    assert event["data"] == {"media_type": image.media_type, "size": len(image.manifest)}
    assert event["outcome"] == "ok"


async def test_a_push_by_digest_records_manifest_pushed_without_a_tag(registry: Registry) -> None:
    image = image_manifest([random_blob(100)])
    await registry.push_image(NAME, image.digest, image)
    [event] = await events(registry, "manifest.pushed")
    assert (event["tag"], event["digest"]) == (None, image.digest)


async def test_pointing_a_tag_at_another_manifest_records_tag_moved(registry: Registry) -> None:
    first = await registry.push_image(NAME, "latest", image_manifest([random_blob(100)]))
    second = await registry.push_image(NAME, "latest", image_manifest([random_blob(100)]))
    [moved] = await events(registry, "tag.moved")
    assert (moved["tag"], moved["digest"]) == ("latest", second)
    assert moved["data"] == {"from": first, "to": second}
    assert len(await events(registry, "manifest.pushed")) == 2


async def test_pushing_the_same_manifest_to_its_tag_again_moves_no_tag(registry: Registry) -> None:
    image = image_manifest([random_blob(100)])
    await registry.push_image(NAME, "v1", image)
    await registry.push_image(NAME, "v1", image)
    assert await events(registry, "tag.moved") == []


async def test_deleting_a_tag_records_the_digest_it_named(registry: Registry) -> None:
    digest = await registry.push_image(NAME, "v1", image_manifest([random_blob(100)]))
    assert (await registry.client.delete(f"/v2/{NAME}/manifests/v1")).status_code == 202
    [event] = await events(registry, "tag.deleted")
    assert (event["package"], event["tag"], event["digest"]) == (NAME, "v1", digest)


async def test_deleting_a_manifest_records_the_tags_that_went_with_it(registry: Registry) -> None:
    image = image_manifest([random_blob(100)])
    await registry.push_image(NAME, "v1", image)
    await registry.push_image(NAME, "stable", image)
    deleted = await registry.client.delete(f"/v2/{NAME}/manifests/{image.digest}")
    assert deleted.status_code == 202
    [event] = await events(registry, "manifest.deleted")
    assert event["digest"] == image.digest
    assert event["data"] == {"tags": ["stable", "v1"]}
    assert await events(registry, "tag.deleted") == []


async def test_unlinking_a_blob_records_blob_deleted(registry: Registry) -> None:
    data = random_blob(100)
    digest = await registry.push_blob(NAME, data)
    assert (await registry.client.delete(f"/v2/{NAME}/blobs/{digest}")).status_code == 202
    [event] = await events(registry, "blob.deleted")
    assert (event["package"], event["digest"]) == (NAME, digest)


async def test_the_push_that_makes_a_package_records_package_created(registry: Registry) -> None:
    await registry.push_blob(NAME, random_blob(10))
    await registry.push_blob(NAME, random_blob(10))
    [event] = await events(registry, "package.created")
    assert (event["package"], event["data"]) == (NAME, {"on": "push"})


async def test_a_refused_change_leaves_no_event(registry: Registry) -> None:
    await registry.push_image(NAME, "v1", image_manifest([random_blob(100)]))
    before = await events(registry)
    missing = await registry.client.delete(f"/v2/{NAME}/manifests/v9")
    assert missing.status_code == 404
    unknown = await registry.put_manifest(
        NAME, "v2", image_manifest([random_blob(10)]), push_blobs=False
    )
    assert unknown.status_code == 400
    assert await events(registry) == before


async def test_a_change_that_fails_after_its_event_leaves_neither(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The push writes its rows and its event, then fails inside the same transaction:
    the rollback takes the event with the change."""
    image = image_manifest([random_blob(100)])
    for blob in image.blobs:
        await registry.push_blob(NAME, blob)
    before = await events(registry)
    record = outbox.record

    async def record_then_fail(*args: Any, **kwargs: Any) -> None:
        await record(*args, **kwargs)
        raise Denied("refused after the change and its event were written")

    monkeypatch.setattr(outbox, "record", record_then_fail)
    response = await registry.put_manifest(NAME, "v1", image, push_blobs=False)
    assert response.status_code == 403
    monkeypatch.undo()
    assert await events(registry) == before
    assert await registry.rows("manifests") == [] and await registry.rows("tags") == []


async def test_an_event_names_the_client_address_and_the_request_id(registry: Registry) -> None:
    """The request id is the one the request's log line and `X-Request-ID` answer carry."""
    image = image_manifest([random_blob(100)])
    for blob in image.blobs:
        await registry.push_blob(NAME, blob)
    response = await registry.put_manifest(NAME, "v1", image, push_blobs=False)
    assert response.status_code == 201
    [event] = await events(registry, "manifest.pushed")
    assert event["client_address"] == "127.0.0.1"
    assert event["request_id"] == response.headers["x-request-id"]
    assert event["actor_kind"] == "anonymous"  # auth = none: nobody signs in


@pytest.mark.settings(trust_proxy_headers=True)
async def test_a_request_id_a_trusted_proxy_sent_is_kept(registry: Registry) -> None:
    await registry.push_blob(NAME, random_blob(10))
    digest = await registry.push_blob(NAME, b"x")
    deleted = await registry.client.delete(
        f"/v2/{NAME}/blobs/{digest}",
        headers={"X-Request-ID": "proxy-7", "X-Forwarded-For": "192.0.2.9"},
    )
    assert deleted.status_code == 202
    [event] = await events(registry, "blob.deleted")
    assert (event["request_id"], event["client_address"]) == ("proxy-7", "192.0.2.9")
    assert digest == digest_of(b"x")
