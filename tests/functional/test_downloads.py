"""Pulls are counted per package, tag and day (docs/audit.md): in memory first, so a
manifest GET never waits for a write, then added to the `downloads` table by the flush
(every download_flush_interval, and when the process stops)."""

from __future__ import annotations

import pytest

from cargohold.config import Settings
from cargohold.metadata.db import Database, SQLiteDatabase
from cargohold.services.events import downloads
from cargohold.services.events.downloads import day_of
from tests.functional.registry import Registry, image_manifest, index_manifest, random_blob

NAME = "acme/app"


async def counts(registry: Registry) -> dict[str, int]:
    rows = await registry.context.db.fetchall(
        "SELECT tag, SUM(count) AS n FROM downloads GROUP BY tag"
    )
    return {row["tag"]: int(row["n"]) for row in rows}


async def flush(registry: Registry) -> None:
    await downloads.flush(registry.context.db, registry.context.downloads)


def reopen(settings: Settings) -> Database:
    if settings.database_url is not None:
        from cargohold.metadata.postgres import PostgresDatabase

        return PostgresDatabase(settings.database_url)
    return SQLiteDatabase(settings.sqlite_path)


async def pull(registry: Registry, reference: str, method: str = "GET") -> None:
    response = await registry.client.request(
        method, f"/v2/{NAME}/manifests/{reference}", headers={"Accept": "*/*"}
    )
    assert response.status_code == 200, response.text


async def test_a_pull_writes_nothing_until_the_flush(registry: Registry) -> None:
    await registry.push_image(NAME, "v1", image_manifest([random_blob(100)]))
    for _ in range(3):
        await pull(registry, "v1")
    assert await counts(registry) == {}
    await flush(registry)
    assert await counts(registry) == {"v1": 3}


async def test_pulls_are_counted_per_tag_and_by_digest(registry: Registry) -> None:
    digest = await registry.push_image(NAME, "v1", image_manifest([random_blob(100)]))
    await registry.push_image(NAME, "v2", image_manifest([random_blob(100)]))
    await pull(registry, "v1")
    await pull(registry, "v2")
    await pull(registry, "v2")
    await pull(registry, digest)
    await flush(registry)
    assert await counts(registry) == {"v1": 1, "v2": 2, "": 1}
    [row] = await registry.context.db.fetchall("SELECT DISTINCT day FROM downloads")
    assert row["day"] == day_of(registry.context.now())


async def test_a_head_is_not_a_pull(registry: Registry) -> None:
    await registry.push_image(NAME, "v1", image_manifest([random_blob(100)]))
    await pull(registry, "v1", "HEAD")
    await flush(registry)
    assert await counts(registry) == {}


async def test_a_platform_image_of_an_index_counts_with_its_index(registry: Registry) -> None:
    """A multi-arch pull is the index by tag, then one platform image by digest: one pull."""
    children = [image_manifest([random_blob(100)]), image_manifest([random_blob(100)])]
    for child in children:
        await registry.push_image(NAME, child.digest, child)
    await registry.push_image(NAME, "v1", index_manifest(children))
    await pull(registry, "v1")
    await pull(registry, children[0].digest)
    await flush(registry)
    assert await counts(registry) == {"v1": 1}


async def test_the_counts_left_are_written_when_the_process_stops(registry: Registry) -> None:
    await registry.push_image(NAME, "v1", image_manifest([random_blob(100)]))
    await pull(registry, "v1")
    ctx = registry.context
    assert ctx.downloads.pending == 1
    await ctx.close()
    db = reopen(ctx.settings)
    try:
        rows = await db.fetchall("SELECT SUM(count) AS n FROM downloads")
    finally:
        await db.close()
    assert int(rows[0]["n"]) == 1


async def test_deleting_a_package_deletes_its_counts(registry: Registry) -> None:
    await registry.push_image(NAME, "v1", image_manifest([random_blob(100)]))
    await pull(registry, "v1")
    await flush(registry)
    await registry.context.db.execute("DELETE FROM packages WHERE name = :n", {"n": NAME})
    assert await counts(registry) == {}


@pytest.mark.settings(audit_pulls=True)
async def test_with_audit_pulls_each_pull_is_also_in_the_audit_log(registry: Registry) -> None:
    digest = await registry.push_image(NAME, "v1", image_manifest([random_blob(100)]))
    await pull(registry, "v1")
    await pull(registry, "v1", "HEAD")
    rows = await registry.context.db.fetchall(
        "SELECT package, tag, digest FROM events WHERE action = 'manifest.pulled'"
    )
    assert [tuple(row) for row in rows] == [(NAME, "v1", digest)]


async def test_without_audit_pulls_no_pull_is_in_the_audit_log(registry: Registry) -> None:
    await registry.push_image(NAME, "v1", image_manifest([random_blob(100)]))
    await pull(registry, "v1")
    rows = await registry.context.db.fetchall(
        "SELECT 1 FROM events WHERE action = 'manifest.pulled'"
    )
    assert rows == []
