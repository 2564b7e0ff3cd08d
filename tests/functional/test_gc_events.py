"""What garbage collection and retention delete is recorded (docs/audit.md): one event per
package per run listing its manifests, one per blob; and the collection prunes the audit
log's entries older than audit_retention_days."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cargohold.services.events import outbox
from cargohold.services.lifecycle import gc
from tests.functional.registry import Registry, digest_of, image_manifest, random_blob

NAME = "acme/app"
DAY = 86400.0


async def events(registry: Registry, action: str) -> list[dict[str, Any]]:
    rows = await registry.context.db.fetchall(
        "SELECT * FROM events WHERE action = :a ORDER BY id", {"a": action}
    )
    found = [dict(row) for row in rows]
    for event in found:
        event["data"] = json.loads(event["data"]) if event["data"] else {}
    return found


@pytest.mark.settings(gc_delete_untagged=True)
async def test_a_collection_records_one_event_per_package_listing_its_manifests(
    registry: Registry,
) -> None:
    untagged = [image_manifest([random_blob(100)]) for _ in range(2)]
    for image in untagged:
        await registry.push_image(NAME, image.digest, image)
    await registry.push_image(NAME, "v1", image_manifest([random_blob(100)]))
    await gc.collect(registry.context, grace=0)
    [package] = [e for e in await events(registry, "gc.deleted") if e["package"]]
    assert package["workspace"] == "acme"
    assert package["data"]["manifests"] == sorted(i.digest for i in untagged)
    assert package["data"]["manifest_count"] == 2
    assert package["data"]["links"] == 2  # their layers; the config is v1's too
    assert package["actor_kind"] == "system"


async def test_each_blob_a_collection_deletes_is_recorded(registry: Registry) -> None:
    layer = random_blob(321)
    await registry.push_blob(NAME, layer)
    await registry.client.delete(f"/v2/{NAME}/blobs/{digest_of(layer)}")
    await gc.collect(registry.context, grace=0)
    [blob] = [e for e in await events(registry, "gc.deleted") if e["digest"]]
    assert (blob["digest"], blob["data"], blob["workspace"]) == (
        digest_of(layer),
        {"blob_size": 321},
        None,
    )


async def test_a_collection_that_deletes_nothing_records_nothing(registry: Registry) -> None:
    await registry.push_image(NAME, "v1", image_manifest([random_blob(100)]))
    await gc.collect(registry.context, grace=0)
    assert await events(registry, "gc.deleted") == []


async def test_retention_run_by_a_collection_records_what_it_deleted(registry: Registry) -> None:
    for number in range(3):
        await registry.push_image(NAME, f"t{number}", image_manifest([random_blob(100)]))
    package = (await registry.rows("packages"))[0]["id"]
    await registry.context.db.execute(
        "INSERT INTO retention_policies (package_id, keep_newest, updated_at) VALUES (:p, 1, 0)",
        {"p": package},
    )
    await gc.collect(registry.context, grace=0)
    [event] = await events(registry, "retention.deleted")
    assert event["package"] == NAME and event["actor_kind"] == "system"
    assert sorted(t["name"] for t in event["data"]["tags"]) == ["t0", "t1"]
    assert event["data"]["tag_count"] == 2


async def _aged(registry: Registry, *ages: float) -> None:
    now = registry.context.now()
    async with registry.context.db.transaction() as tx:
        for age in ages:
            await outbox.record(tx, "test.aged", target=f"{age / DAY:g} days old", at=now - age)


async def test_a_collection_deletes_audit_entries_past_their_retention(registry: Registry) -> None:
    await _aged(registry, 401 * DAY, 399 * DAY)
    report = await gc.collect(registry.context, grace=0)
    assert report.events == 1
    assert [e["target"] for e in await events(registry, "test.aged")] == ["399 days old"]
    [pruned] = await events(registry, "gc.deleted")
    assert pruned["data"]["events"] == 1


@pytest.mark.settings(audit_retention_days=0)
async def test_with_no_retention_the_audit_log_is_kept_for_good(registry: Registry) -> None:
    await _aged(registry, 4000 * DAY)
    assert (await gc.collect(registry.context, grace=0)).events == 0
    assert len(await events(registry, "test.aged")) == 1


async def test_a_dry_run_counts_old_entries_and_deletes_none(registry: Registry) -> None:
    await _aged(registry, 500 * DAY, 450 * DAY)
    assert (await gc.collect(registry.context, grace=0, dry_run=True)).events == 2
    assert len(await events(registry, "test.aged")) == 2
