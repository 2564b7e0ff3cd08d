"""Online garbage collection (services/gc.py): what goes, what stays, and pushes racing it.

After every collection each tag must still pull whole: `assert_every_tag_pulls`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from cargohold.oci.digest import Digest
from cargohold.services.context import Context
from cargohold.services.lifecycle import gc, gc_history, leases
from cargohold.services.lifecycle.reachability import lock_package
from cargohold.storage.paths import blob_key
from cargohold.web import app as web_app
from tests.functional.registry import (
    Registry,
    descriptor,
    digest_of,
    error_code,
    image_manifest,
    index_manifest,
    random_blob,
)

NAME = "acme/app"
HOUR = 3600.0


async def assert_every_tag_pulls(registry: Registry) -> None:
    """Every tag of every package: its manifest, every manifest and blob it names."""
    for package in [row["name"] for row in await registry.rows("packages")]:
        tags = (await registry.client.get(f"/v2/{package}/tags/list")).json()["tags"] or []
        for tag in tags:
            await _pulls(registry, package, tag)


async def _pulls(registry: Registry, package: str, reference: str) -> None:
    response = await registry.client.get(
        f"/v2/{package}/manifests/{reference}", headers={"Accept": "*/*"}
    )
    assert response.status_code == 200, (package, reference, response.text)
    document = response.json()
    for child in document.get("manifests", []):
        await _pulls(registry, package, child["digest"])
    for blob in [document.get("config"), *document.get("layers", [])]:
        if blob is None:
            continue
        got = await registry.client.get(f"/v2/{package}/blobs/{blob['digest']}")
        assert got.status_code == 200, (package, blob["digest"], got.text)
        assert digest_of(got.content) == blob["digest"]


async def stored(registry: Registry, digest: str) -> bool:
    return bool(registry.stored_files(blob_key(Digest.parse(digest))))


@contextlib.contextmanager
def later(ctx: Context, seconds: float) -> Iterator[None]:
    """Let the registry's clock run `seconds` ahead (what was pushed now is that old)."""
    real = ctx.now
    ctx.now = lambda: real() + seconds  # type: ignore[method-assign]
    try:
        yield
    finally:
        ctx.now = real  # type: ignore[method-assign]


async def collect(registry: Registry, **options: Any) -> gc.GcReport:
    return await gc.collect(registry.context, **{"grace": 0, **options})


async def test_a_deleted_images_own_layers_go_and_shared_ones_stay(registry: Registry) -> None:
    shared, own = random_blob(3000), random_blob(5000)
    kept = image_manifest([shared, random_blob()])
    dropped = image_manifest([shared, own], config=b'{"os":"linux","n":2}')
    await registry.push_image(NAME, "kept", kept)
    await registry.push_image(NAME, "dropped", dropped)
    response = await registry.client.delete(f"/v2/{NAME}/manifests/{dropped.digest}")
    assert response.status_code == 202

    report = await collect(registry)

    assert not await stored(registry, digest_of(own))
    assert await stored(registry, digest_of(shared))
    assert (report.blobs, report.blob_bytes) == (2, 5000 + len(b'{"os":"linux","n":2}'))
    assert digest_of(own) not in {row["digest"] for row in await registry.rows("blobs")}
    await assert_every_tag_pulls(registry)


async def test_nothing_younger_than_the_grace_period_goes(registry: Registry) -> None:
    image = image_manifest([random_blob()])
    await registry.push_image(NAME, "v1", image)
    await registry.client.delete(f"/v2/{NAME}/manifests/{image.digest}")

    young = await gc.collect(registry.context, grace=HOUR)
    assert (young.links, young.blobs) == (0, 0)
    assert all([await stored(registry, digest_of(blob)) for blob in image.blobs])

    with later(registry.context, 2 * HOUR):
        old = await gc.collect(registry.context, grace=HOUR)
    assert (old.links, old.blobs) == (2, 2)
    assert not any([await stored(registry, digest_of(blob)) for blob in image.blobs])


@pytest.mark.settings(gc_grace=HOUR)
async def test_the_grace_period_is_a_setting(registry: Registry) -> None:
    image = image_manifest([random_blob()])
    await registry.push_image(NAME, "v1", image)
    await registry.client.delete(f"/v2/{NAME}/manifests/{image.digest}")
    assert (await gc.collect(registry.context)).blobs == 0
    with later(registry.context, 2 * HOUR):
        assert (await gc.collect(registry.context)).blobs == 2


async def test_layers_uploaded_for_a_push_not_finished_stay_within_the_grace(
    registry: Registry,
) -> None:
    digest = await registry.push_blob(NAME, random_blob())
    assert (await gc.collect(registry.context, grace=HOUR)).links == 0
    assert await stored(registry, digest)


async def test_children_of_a_tagged_index_stay(registry: Registry) -> None:
    children = [image_manifest([random_blob()]), image_manifest([random_blob()])]
    for child in children:
        await registry.push_image(NAME, child.digest, child)
    await registry.push_image(NAME, "multi", index_manifest(children))

    report = await collect(registry)

    assert (report.manifests, report.blobs) == (0, 0)
    await assert_every_tag_pulls(registry)


async def test_children_go_with_their_index(registry: Registry) -> None:
    children = [image_manifest([random_blob()]), image_manifest([random_blob()])]
    for child in children:
        await registry.push_image(NAME, child.digest, child)
    index = index_manifest(children)
    await registry.push_image(NAME, "multi", index)
    await registry.client.delete(f"/v2/{NAME}/manifests/{index.digest}")

    report = await collect(registry)

    assert report.manifests == 2
    assert await registry.rows("manifests") == []
    assert not any([await stored(registry, digest_of(b)) for c in children for b in c.blobs])


async def test_referrers_of_a_kept_manifest_stay_and_go_with_it(registry: Registry) -> None:
    image = image_manifest([random_blob()])
    await registry.push_image(NAME, "v1", image)
    signature = image_manifest(
        [b"signature"],
        subject=descriptor(image.media_type, image.manifest),
        artifact_type="application/vnd.dev.cosign.artifact.sig.v1+json",
    )
    await registry.push_image(NAME, signature.digest, signature)

    assert (await collect(registry)).manifests == 0
    assert await stored(registry, digest_of(b"signature"))

    await registry.client.delete(f"/v2/{NAME}/manifests/{image.digest}")
    assert (await collect(registry)).manifests == 1
    assert not await stored(registry, digest_of(b"signature"))


async def test_an_untagged_image_stays_until_deleted(registry: Registry) -> None:
    moved = image_manifest([random_blob()])
    await registry.push_image(NAME, "latest", moved)
    await registry.push_image(NAME, "latest", image_manifest([random_blob()]))
    pinned = image_manifest([random_blob()])
    await registry.push_image(NAME, pinned.digest, pinned)

    report = await collect(registry)

    assert (report.manifests, report.blobs) == (0, 0)
    for image in (moved, pinned):
        await _pulls(registry, NAME, image.digest)


@pytest.mark.settings(gc_delete_untagged=True)
async def test_gc_delete_untagged_collects_untagged_images(registry: Registry) -> None:
    moved = image_manifest([random_blob()])
    await registry.push_image(NAME, "latest", moved)
    await registry.push_image(NAME, "latest", image_manifest([random_blob()]))

    report = await collect(registry)

    assert report.manifests == 1
    response = await registry.client.get(f"/v2/{NAME}/manifests/{moved.digest}")
    assert response.status_code == 404
    await assert_every_tag_pulls(registry)


async def assert_unlinked(registry: Registry, name: str, digest: str) -> None:
    """The package no longer sees the blob (DELETE unlinks at once; bytes go by GC)."""
    got = await registry.client.get(f"/v2/{name}/blobs/{digest}")
    assert (got.status_code, error_code(got)) == (404, "BLOB_UNKNOWN")
    head = await registry.client.head(f"/v2/{name}/blobs/{digest}")
    assert head.status_code == 404
    links = await registry.context.db.fetchall(
        "SELECT 1 FROM package_blobs pb JOIN packages p ON p.id = pb.package_id"
        " WHERE p.name = :n AND pb.digest = :d",
        {"n": name, "d": digest},
    )
    assert links == []


async def test_a_blob_deleted_from_its_only_package_goes(registry: Registry) -> None:
    digest = await registry.push_blob(NAME, random_blob())
    assert (await registry.client.delete(f"/v2/{NAME}/blobs/{digest}")).status_code == 202
    await assert_unlinked(registry, NAME, digest)
    assert await stored(registry, digest)  # the bytes stay until a collection

    assert (await collect(registry)).blobs == 1
    assert not await stored(registry, digest)
    assert digest not in {row["digest"] for row in await registry.rows("blobs")}


async def test_a_blob_another_package_links_stays(registry: Registry) -> None:
    data = random_blob()
    digest = await registry.push_blob(NAME, data)
    await registry.push_image("acme/other", "v1", image_manifest([data]))
    assert (await registry.client.delete(f"/v2/{NAME}/blobs/{digest}")).status_code == 202
    await assert_unlinked(registry, NAME, digest)
    assert (await collect(registry)).blobs == 0
    assert (await registry.client.get(f"/v2/acme/other/blobs/{digest}")).content == data


async def test_a_deleted_packages_bytes_go(registry: Registry) -> None:
    image = image_manifest([random_blob()])
    await registry.push_image(NAME, "v1", image)
    await registry.context.db.execute("DELETE FROM packages WHERE name = :n", {"n": NAME})
    report = await collect(registry)
    assert report.blobs == 2
    assert registry.stored_files("blobs/") == []


async def test_a_dry_run_deletes_nothing_and_reports_what_a_run_frees(registry: Registry) -> None:
    shared = random_blob(2000)
    await registry.push_image(NAME, "kept", image_manifest([shared]))
    children = [image_manifest([shared, random_blob(700)]), image_manifest([random_blob(900)])]
    for child in children:
        await registry.push_image(NAME, child.digest, child)
    index = index_manifest(children)
    await registry.push_image(NAME, "multi", index)
    await registry.client.delete(f"/v2/{NAME}/manifests/{index.digest}")
    files = registry.stored_files()
    rows = await registry.rows("package_blobs")

    dry = await collect(registry, dry_run=True)
    assert registry.stored_files() == files
    assert await registry.rows("package_blobs") == rows
    real = await collect(registry)

    assert (dry.manifests, dry.links, dry.blobs, dry.blob_bytes) == (
        real.manifests,
        real.links,
        real.blobs,
        real.blob_bytes,
    )
    assert (real.manifests, real.blob_bytes) == (2, 700 + 900)
    await assert_every_tag_pulls(registry)


async def test_bytes_without_a_row_go_once_a_minute_old(registry: Registry) -> None:
    data = b"left behind by a crash"
    key = blob_key(Digest.parse(digest_of(data)))
    state = await registry.context.storage.start_upload("uploads/crashed")
    _, state = await registry.context.storage.append_upload(
        "uploads/crashed", state, 0, _once(data)
    )
    await registry.context.storage.publish_upload("uploads/crashed", state, key)

    assert (await collect(registry)).orphans == 0  # it may be a push about to write its row
    with later(registry.context, 2 * gc.LEFTOVER_MIN_AGE):
        report = await collect(registry)
    assert (report.orphans, report.orphan_bytes) == (1, len(data))
    assert registry.stored_files("blobs/") == []


async def test_upload_data_without_a_session_goes(registry: Registry) -> None:
    await registry.context.storage.start_upload("uploads/abandoned")
    live = await registry.start_upload(NAME)
    with later(registry.context, 2 * gc.LEFTOVER_MIN_AGE):
        report = await collect(registry)
    assert report.uploads == 1
    assert [key async for key, _ in registry.context.storage.list_uploads("uploads/")] == [
        "uploads/" + live.rsplit("/", 1)[1]
    ]


@pytest.mark.settings(upload_idle_expiry=HOUR)
async def test_expired_upload_sessions_go_with_their_data(registry: Registry) -> None:
    await registry.start_upload(NAME)
    with later(registry.context, 2 * HOUR):
        report = await collect(registry)
    assert report.uploads == 1
    assert await registry.rows("uploads") == []
    assert [key async for key in registry.context.storage.list_uploads("uploads/")] == []


async def _once(data: bytes) -> Any:
    yield data


async def test_a_blob_pushed_again_after_the_listing_stays(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = random_blob()
    digest = await registry.push_blob(NAME, data)
    await registry.client.delete(f"/v2/{NAME}/blobs/{digest}")
    original = gc._Run._delete_blob

    async def push_then_delete(run: gc._Run, found: str, size: int) -> None:
        await registry.push_blob(NAME, data)  # lands after the listing, before the delete
        await original(run, found, size)

    monkeypatch.setattr(gc._Run, "_delete_blob", push_then_delete)
    report = await collect(registry)

    assert (report.blobs, report.kept_in_use) == (0, 1)
    assert (await registry.client.get(f"/v2/{NAME}/blobs/{digest}")).content == data


async def test_a_push_of_a_blob_being_deleted_waits_and_publishes_after(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = random_blob()
    digest = await registry.push_blob(NAME, data)
    await registry.client.delete(f"/v2/{NAME}/blobs/{digest}")
    storage = registry.context.storage
    real_delete = storage.delete
    pushes: list[asyncio.Future[str]] = []

    async def delete_while_pushing(key: str) -> None:
        pushes.append(asyncio.ensure_future(registry.push_blob(NAME, data)))
        await asyncio.sleep(0.3)
        assert not pushes[0].done(), "the push must wait for the tombstone"
        await real_delete(key)

    monkeypatch.setattr(storage, "delete", delete_while_pushing)
    report = await collect(registry)
    await asyncio.gather(*pushes)

    assert report.blobs == 1
    assert await registry.rows("blob_tombstones") == []
    assert (await registry.client.get(f"/v2/{NAME}/blobs/{digest}")).content == data


async def test_an_index_pushed_while_its_package_is_swept_never_names_a_deleted_child(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    child = image_manifest([random_blob()])
    await registry.push_image(NAME, child.digest, child)
    index = index_manifest([child])
    await registry.push_image(NAME, "multi", index)
    await registry.client.delete(f"/v2/{NAME}/manifests/{index.digest}")  # child: garbage
    original = gc._Run._package
    pushes: list[asyncio.Future[Any]] = []

    async def push_during(run: gc._Run, tx: Any, package_id: int) -> None:
        await lock_package(tx, package_id)
        pushes.append(
            asyncio.ensure_future(registry.put_manifest(NAME, "again", index, push_blobs=False))
        )
        await asyncio.sleep(0.3)
        assert not pushes[0].done(), "a manifest push waits while its package is swept"
        await original(run, tx, package_id)

    monkeypatch.setattr(gc._Run, "_package", push_during)
    await collect(registry)
    response = await pushes[0]

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
    assert await registry.rows("manifests") == []
    await registry.push_image(NAME, child.digest, child)
    await registry.push_image(NAME, "again", index)
    await assert_every_tag_pulls(registry)


async def test_only_one_collection_runs_at_a_time(registry: Registry) -> None:
    ctx = registry.context
    assert await leases.acquire(ctx.db, gc.LEASE, "node-b:42", ttl=gc.LEASE_TTL, now=ctx.now())
    with pytest.raises(gc.Busy, match="node-b:42"):
        await collect(registry)
    assert (await collect(registry, dry_run=True)).manifests == 0  # a dry run needs no lease
    with later(ctx, gc.LEASE_TTL + 1):  # a holder that died lets its lease run out
        await collect(registry)
    assert await registry.rows("leases") == []


async def test_collections_on_two_nodes_at_once_leave_every_tag_whole(
    registry: Registry,
) -> None:
    """Two nodes (two contexts on one database and store), the lease bypassed, sweeping
    the same garbage at once while pushes go on: nothing a tag needs is lost."""
    second = type(registry.context)(
        db=_reopen(registry.context),
        storage=registry.context.storage,
        settings=registry.context.settings,
    )
    shared = [random_blob() for _ in range(3)]
    for number in range(6):
        image = image_manifest([shared[number % 3], random_blob()])
        await registry.push_image(NAME, f"t{number}", image)
        if number % 2:
            await registry.client.delete(f"/v2/{NAME}/manifests/{image.digest}")

    async def pushes() -> None:
        for number in range(6, 10):
            await registry.push_image(NAME, f"t{number}", image_manifest([shared[0]]))

    try:
        await asyncio.gather(
            gc.collect(registry.context, grace=0, holder="twin"),
            gc.collect(second, grace=0, holder="twin"),
            pushes(),
        )
    finally:
        await second.db.close()
    await assert_every_tag_pulls(registry)
    assert await registry.rows("blob_tombstones") == []


def _reopen(ctx: Context) -> Any:
    from cargohold.services.context import _open_database

    return _open_database(ctx.settings)


@pytest.mark.settings(gc_interval=1)
async def test_the_server_collects_in_the_background_every_interval(registry: Registry) -> None:
    image = image_manifest([random_blob()])
    await registry.push_image(NAME, "v1", image)
    await registry.client.delete(f"/v2/{NAME}/manifests/{image.digest}")
    with later(registry.context, 25 * HOUR):
        collector = asyncio.create_task(web_app._collect_garbage(registry.context))
        try:
            for _ in range(100):  # done: the blob is gone and the lease given back
                if not registry.stored_files("blobs/") and not await registry.rows("leases"):
                    break
                await asyncio.sleep(0.05)
        finally:
            collector.cancel()
    assert registry.stored_files("blobs/") == []
    assert await registry.rows("leases") == []


async def test_a_collection_applies_retention_policies_first_and_frees_their_bytes(
    registry: Registry,
) -> None:
    images = [image_manifest([random_blob(1000 + n)]) for n in range(5)]
    for number, image in enumerate(images):
        await registry.push_image(NAME, f"t{number}", image)
    package = (await registry.rows("packages"))[0]["id"]
    await registry.context.db.execute(
        "INSERT INTO retention_policies (package_id, keep_newest, untagged_days, updated_at)"
        " VALUES (:p, 2, 1, 0)",
        {"p": package},
    )
    with later(registry.context, 2 * 86400):  # the images are two days old: untagged ones go
        report = await collect(registry)

    assert (report.retention_tags, report.retention_manifests) == (3, 3)
    assert report.blob_bytes == 1000 + 1001 + 1002
    tags = (await registry.client.get(f"/v2/{NAME}/tags/list")).json()["tags"]
    assert tags == ["t3", "t4"]
    await assert_every_tag_pulls(registry)


async def test_an_upload_publishing_stray_bytes_being_deleted_is_refused_cleanly(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The narrowest interleaving: the upload publishes just after the collector checked
    that the stray bytes were old and just before it deletes them."""
    data = random_blob()
    digest = digest_of(data)
    key = blob_key(Digest.parse(digest))
    storage = registry.context.storage
    state = await storage.start_upload("uploads/crashed")
    _, state = await storage.append_upload("uploads/crashed", state, 0, _once(data))
    await storage.publish_upload("uploads/crashed", state, key)  # no row: a crash's leftover
    real_publish, real_delete = storage.publish_upload, storage.delete
    reached_delete, published = asyncio.Event(), asyncio.Event()
    collections: list[asyncio.Future[gc.GcReport]] = []

    async def publish(upload: str, upload_state: str, dest: str) -> None:
        if dest == key:
            collections.append(asyncio.ensure_future(collect(registry)))
            await reached_delete.wait()
        await real_publish(upload, upload_state, dest)
        published.set()

    async def delete(target: str) -> None:
        if target == key:
            reached_delete.set()
            await published.wait()
        await real_delete(target)

    monkeypatch.setattr(storage, "publish_upload", publish)
    monkeypatch.setattr(storage, "delete", delete)
    with later(registry.context, 2 * gc.LEFTOVER_MIN_AGE):
        response = await registry.client.post(
            f"/v2/{NAME}/blobs/uploads/", params={"digest": digest}, content=data
        )
        report = await collections[0]

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
    assert "upload the blob again" in response.json()["errors"][0]["message"]
    assert report.orphans == 1
    assert await registry.rows("blobs") == []
    assert await registry.rows("uploads") == []
    assert await registry.push_blob(NAME, data) == digest
    assert (await registry.client.get(f"/v2/{NAME}/blobs/{digest}")).content == data


async def test_each_collection_is_recorded_with_what_it_freed(registry: Registry) -> None:
    image = image_manifest([random_blob(4000)])
    await registry.push_image(NAME, "v1", image)
    await registry.client.delete(f"/v2/{NAME}/manifests/{image.digest}")
    report = await collect(registry)

    [run] = await gc_history.recent(registry.context.db)

    assert run.outcome == "done" and run.error is None
    assert run.report["freed_bytes"] == report.freed_bytes > 4000
    assert run.report["blobs"] == 2


async def test_a_failed_collection_is_recorded_with_its_error(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    await registry.push_blob(NAME, random_blob())
    await registry.client.get("/v2/")

    async def unavailable(key: str) -> None:
        raise OSError("the store is read-only")

    monkeypatch.setattr(registry.context.storage, "delete", unavailable)
    digest = (await registry.rows("blobs"))[0]["digest"]
    await registry.client.delete(f"/v2/{NAME}/blobs/{digest}")
    with pytest.raises(OSError):
        await collect(registry)

    [run] = await gc_history.recent(registry.context.db)
    assert (run.outcome, run.error) == ("failed", "the store is read-only")
    assert await registry.rows("leases") == []


async def test_only_the_newest_hundred_runs_are_kept(registry: Registry) -> None:
    for _ in range(gc_history.KEPT + 3):
        await gc_history.started(registry.context.db, holder="h", now=0)
    runs = await registry.rows("gc_runs")
    assert len(runs) == gc_history.KEPT


async def test_a_collection_forgets_sign_in_attempt_counts_that_lapsed(registry: Registry) -> None:
    ctx = registry.context
    now = ctx.now()
    window = ctx.settings.login_failure_window
    for key, first_at, blocked_until in (
        ("lapsed", now - 2 * window, 0.0),
        ("recent", now - window / 2, 0.0),
        ("blocked", now - 2 * window, now + 60),
        ("block ended lately", now - 2 * window, now - window / 2),
    ):
        await ctx.db.execute(
            "INSERT INTO login_failures (key, failures, first_at, blocked_until)"
            " VALUES (:k, 3, :f, :b)",
            {"k": key, "f": first_at, "b": blocked_until},
        )

    await collect(registry)

    kept = {row["key"] for row in await registry.rows("login_failures")}
    assert kept == {"recent", "blocked", "block ended lately"}
