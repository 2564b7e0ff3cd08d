"""Online garbage collection: what no tag still needs goes, while the registry serves.

A run works in phases, each in short transactions, none held across object-store I/O:

0. the packages' retention policies (lifecycle/retention.py) delete the tags and images
   they name;
1. manifests and links, one package at a time under the package's lock (pushes wait for
   the few milliseconds it takes): manifests no root reaches (tags, and untagged images
   unless `gc_delete_untagged`; then index children and referrers) are deleted, then the
   package's links to blobs no remaining manifest names;
2. blobs no package links: the row goes and a tombstone stands while the bytes are
   deleted; an upload of the same digest waits for the tombstone before it publishes, and
   a push that links the blob first keeps it (the link refers to the row);
3. objects in the store without a row (left by a crash), and upload data without a session;
   audit log entries older than `audit_retention_days`.

Each deletion of phases 1 and 2 leaves a `gc.deleted` event in its transaction: one per
package (listing the manifests, counting the links) and one per blob (docs/audit.md).

Everything is deleted only when older than the grace period (`gc_grace`): a manifest by
when it was pushed, a link by when it was last uploaded or mounted, a blob by when it was
first stored, leftovers by when they were last written (and never younger than a minute).
One node at a time collects: the run holds the `gc` lease and renews it as it goes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from cargohold import metrics
from cargohold.metadata.db import IntegrityError, Queries, in_list
from cargohold.oci.digest import Digest
from cargohold.services.accounts import logins
from cargohold.services.context import Context
from cargohold.services.events import outbox
from cargohold.services.lifecycle import gc_history, leases, retention
from cargohold.services.lifecycle.reachability import load_graph, lock_package
from cargohold.services.registry import uploads
from cargohold.storage.base import ObjectNotFound
from cargohold.storage.paths import BLOBS_PREFIX, UPLOADS_PREFIX, blob_digest, blob_key

LEASE = "gc"
LEASE_TTL = 300.0
LEFTOVER_MIN_AGE = 60.0  # bytes written a moment ago may belong to a push still under way
_BATCH = 500
LISTED = 1000  # the most manifests one gc.deleted event lists (it counts them all)


@dataclass
class GcReport:
    dry_run: bool
    grace: float
    retention_tags: int = 0  # deleted (or that would be) by retention policies
    retention_manifests: int = 0
    manifests: int = 0
    links: int = 0
    blobs: int = 0
    blob_bytes: int = 0
    orphans: int = 0
    orphan_bytes: int = 0
    uploads: int = 0
    events: int = 0  # audit log entries past audit_retention_days
    kept_in_use: int = 0  # blobs a push linked again while the run was deciding
    seconds: float = 0.0

    @property
    def freed_bytes(self) -> int:
        return self.blob_bytes + self.orphan_bytes

    def figures(self) -> dict[str, Any]:
        """The counts and bytes, as recorded in the run history and the API."""
        found = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return {**found, "freed_bytes": self.freed_bytes}


class Progress(Protocol):
    def start(self, phase: str, total: int | None) -> None: ...

    def advance(self, amount: int = 1) -> None: ...


class _Silent:
    def start(self, phase: str, total: int | None) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass


class Busy(Exception):
    """Another process holds the collection lease."""

    def __init__(self, holder: str, until: float) -> None:
        super().__init__(f"garbage collection is already running ({holder})")
        self.holder = holder
        self.until = until


async def _take_lease(ctx: Context, holder: str) -> None:
    """Take or renew the collection lease for `holder`; Busy while another holds it."""
    if not await leases.acquire(ctx.db, LEASE, holder, ttl=LEASE_TTL, now=ctx.now()):
        lease = await leases.current(ctx.db, LEASE, now=ctx.now())
        raise Busy(lease.holder if lease else "unknown", lease.expires_at if lease else 0)


class _Run:
    def __init__(self, ctx: Context, report: GcReport, progress: Progress, holder: str) -> None:
        self.ctx = ctx
        self.report = report
        self.progress = progress
        self.holder = holder
        self.cutoff = ctx.now() - report.grace
        self.leftover_cutoff = ctx.now() - max(report.grace, LEFTOVER_MIN_AGE)
        self.renewed = time.monotonic()
        self.unlinked: dict[str, int] = {}  # dry run: digest → links the run would remove

    async def keep_lease(self) -> None:
        if self.report.dry_run or time.monotonic() - self.renewed < LEASE_TTL / 3:
            return
        await _take_lease(self.ctx, self.holder)
        self.renewed = time.monotonic()

    # -- phase 0: retention policies

    async def retention(self) -> None:
        self.progress.start("retention", None)
        await self.keep_lease()
        applied = await retention.apply_policies(self.ctx, dry_run=self.report.dry_run)
        self.progress.advance(applied.packages)
        self.report.retention_tags += applied.tags_deleted
        self.report.retention_manifests += applied.manifests_deleted

    # -- phase 1: manifests and links, per package

    async def packages(self) -> None:
        rows = await self.ctx.db.fetchall("SELECT id FROM packages ORDER BY id")
        self.progress.start("manifests", len(rows))
        for row in rows:
            await self.keep_lease()
            async with self.ctx.db.transaction() as tx:
                await self._package(tx, int(row["id"]))
            self.progress.advance()

    async def _package(self, tx: Queries, package_id: int) -> None:
        if not await lock_package(tx, package_id):
            return
        graph = await load_graph(tx, package_id)
        keep = graph.closure(graph.roots(untagged_images=not self.ctx.settings.gc_delete_untagged))
        doomed = [
            node.id
            for digest, node in graph.manifests.items()
            if digest not in keep and node.created_at < self.cutoff
        ]
        gone = set(doomed)
        needed = {
            row["digest"]
            for row in await tx.fetchall(
                "SELECT r.manifest_id, r.digest FROM manifest_references r"
                " JOIN manifests m ON m.id = r.manifest_id"
                " WHERE m.package_id = :p AND r.kind = 'blob'",
                {"p": package_id},
            )
            if int(row["manifest_id"]) not in gone
        }
        stale = [
            row["digest"]
            for row in await tx.fetchall(
                "SELECT digest FROM package_blobs WHERE package_id = :p AND created_at < :cutoff",
                {"p": package_id, "cutoff": self.cutoff},
            )
            if row["digest"] not in needed
        ]
        self.report.manifests += len(doomed)
        if self.report.dry_run:
            self.report.links += len(stale)
            for digest in stale:
                self.unlinked[digest] = self.unlinked.get(digest, 0) + 1
            return
        for start in range(0, len(doomed), _BATCH):
            where, params = in_list("id", doomed[start : start + _BATCH])
            await tx.execute(f"DELETE FROM manifests WHERE {where}", params)
        unlinked = 0
        for start in range(0, len(stale), _BATCH):
            where, params = in_list("digest", stale[start : start + _BATCH])
            # created_at again: an upload or mount that renewed the link meanwhile keeps it
            unlinked += await tx.execute(
                f"DELETE FROM package_blobs WHERE package_id = :p AND created_at < :cutoff"
                f" AND {where}",
                {"p": package_id, "cutoff": self.cutoff, **params},
            )
        self.report.links += unlinked
        digests = sorted(d for d, node in graph.manifests.items() if node.id in gone)
        await self._record_package(tx, package_id, digests, unlinked)

    async def _record_package(
        self, tx: Queries, package_id: int, digests: list[str], unlinked: int
    ) -> None:
        """One `gc.deleted` event per package and run: its manifests that went (listed up
        to `LISTED`), and how many of its links to blobs."""
        if not digests and not unlinked:
            return
        row = await tx.fetchone("SELECT name FROM packages WHERE id = :p", {"p": package_id})
        name = str(row["name"]) if row else None
        await outbox.record(
            tx,
            "gc.deleted",
            package=name,
            target=f"{name}: {len(digests)} manifests, {unlinked} links to blobs",
            data={
                "manifest_count": len(digests),
                "manifests": digests[:LISTED],
                "links": unlinked,
            },
            at=self.ctx.now(),
        )

    # -- phase 2: blobs no package links

    async def blobs(self) -> None:
        rows = list(
            await self.ctx.db.fetchall(
                "SELECT b.digest, b.size FROM blobs b WHERE b.created_at < :cutoff"
                " AND NOT EXISTS (SELECT 1 FROM package_blobs pb WHERE pb.digest = b.digest)",
                {"cutoff": self.cutoff},
            )
        )
        if self.report.dry_run:
            rows += await self._unlinked_by_this_run()
        self.progress.start("blobs", len(rows))
        for row in rows:
            await self.keep_lease()
            if self.report.dry_run:
                self.report.blobs += 1
                self.report.blob_bytes += int(row["size"])
            else:
                await self._delete_blob(row["digest"], int(row["size"]))
            self.progress.advance()

    async def _unlinked_by_this_run(self) -> list[Any]:
        """Dry run: the blobs whose every link phase 1 would have removed."""
        found: list[Any] = []
        digests = sorted(self.unlinked)
        for start in range(0, len(digests), _BATCH):
            where, params = in_list("b.digest", digests[start : start + _BATCH])
            found += [
                row
                for row in await self.ctx.db.fetchall(
                    "SELECT b.digest, b.size, COUNT(pb.package_id) AS links FROM blobs b"
                    " JOIN package_blobs pb ON pb.digest = b.digest"
                    f" WHERE b.created_at < :cutoff AND {where} GROUP BY b.digest, b.size",
                    {"cutoff": self.cutoff, **params},
                )
                if int(row["links"]) == self.unlinked[row["digest"]]
            ]
        return found

    async def _delete_blob(self, digest: str, size: int) -> None:
        try:
            async with self.ctx.db.transaction() as tx:
                removed = await tx.execute(
                    "DELETE FROM blobs WHERE digest = :d AND created_at < :cutoff AND NOT EXISTS"
                    " (SELECT 1 FROM package_blobs pb WHERE pb.digest = blobs.digest)",
                    {"d": digest, "cutoff": self.cutoff},
                )
                if removed:
                    await self._tombstone(tx, digest)
                    await outbox.record(
                        tx,
                        "gc.deleted",
                        digest=digest,
                        target=f"blob {digest}",
                        data={"blob_size": size},
                        at=self.ctx.now(),
                    )
        except IntegrityError:  # a push linked it after the check: it stays
            removed = 0
        if not removed:
            self.report.kept_in_use += 1
            return
        await self._delete_bytes(digest)
        self.report.blobs += 1
        self.report.blob_bytes += size

    async def _tombstone(self, tx: Queries, digest: str) -> None:
        await tx.execute(
            "INSERT INTO blob_tombstones (digest, since) VALUES (:d, :now)"
            " ON CONFLICT (digest) DO UPDATE SET since = excluded.since",
            {"d": digest, "now": self.ctx.now()},
        )

    async def _delete_bytes(self, digest: str) -> None:
        """Delete a blob's bytes under its tombstone (an upload of it waits meanwhile)."""
        try:
            await self.ctx.storage.delete(blob_key(Digest.parse(digest)))
        finally:
            await self._drop_tombstone(digest)

    async def _drop_tombstone(self, digest: str) -> None:
        await self.ctx.db.execute("DELETE FROM blob_tombstones WHERE digest = :d", {"d": digest})

    # -- phase 3: bytes without rows, upload data without sessions

    async def orphans(self) -> None:
        self.progress.start("orphans", None)
        batch: list[tuple[str, str]] = []
        async for key in self.ctx.storage.list(BLOBS_PREFIX):
            digest = blob_digest(key)
            if digest is not None:
                batch.append((key, digest))
            if len(batch) >= _BATCH:
                await self._orphan_batch(batch)
                batch = []
        await self._orphan_batch(batch)

    async def _orphan_batch(self, batch: list[tuple[str, str]]) -> None:
        if not batch:
            return
        await self.keep_lease()
        where, params = in_list("digest", [digest for _key, digest in batch])
        known = {
            row["digest"]
            for table in ("blobs", "blob_tombstones")
            for row in await self.ctx.db.fetchall(
                f"SELECT digest FROM {table} WHERE {where}", params
            )
        }
        for key, digest in batch:
            self.progress.advance()
            if digest not in known:
                await self._orphan(key, digest)

    async def _orphan(self, key: str, digest: str) -> None:
        if not await self._old_leftover(key):
            return
        if self.report.dry_run:
            self.report.orphans += 1
            self.report.orphan_bytes += await self._size(key)
            return
        async with self.ctx.db.transaction() as tx:
            if await tx.fetchone("SELECT 1 FROM blobs WHERE digest = :d", {"d": digest}):
                return
            await self._tombstone(tx, digest)
        try:
            # Again under the tombstone: an upload that published these bytes meanwhile made
            # them new (and checks, once the tombstone is gone, that they survived).
            if not await self._old_leftover(key):
                return
            size = await self._size(key)
            await self.ctx.storage.delete(key)
        finally:
            await self._drop_tombstone(digest)
        self.report.orphans += 1
        self.report.orphan_bytes += size

    async def _old_leftover(self, key: str) -> bool:
        try:
            return await self.ctx.storage.modified(key) < self.leftover_cutoff
        except ObjectNotFound:
            return False

    async def _size(self, key: str) -> int:
        try:
            return await self.ctx.storage.size(key)
        except ObjectNotFound:
            return 0

    async def uploads(self) -> None:
        self.progress.start("uploads", None)
        ctx = self.ctx
        if self.report.dry_run:
            row = await ctx.db.fetchone(
                "SELECT COUNT(*) AS n FROM uploads WHERE updated_at < :cutoff",
                {"cutoff": ctx.now() - ctx.settings.upload_idle_expiry},
            )
            self.report.uploads += int(row["n"]) if row else 0
        else:
            self.report.uploads += await uploads.sweep_expired_uploads(ctx)
        async for key, when in ctx.storage.list_uploads(UPLOADS_PREFIX):
            self.progress.advance()
            if when >= self.leftover_cutoff:
                continue
            upload_id = key[len(UPLOADS_PREFIX) :]
            if await ctx.db.fetchone("SELECT 1 FROM uploads WHERE id = :id", {"id": upload_id}):
                continue
            if not self.report.dry_run:
                await ctx.storage.abort_upload(key, "")
            self.report.uploads += 1
        await ctx.db.execute(
            "DELETE FROM blob_tombstones WHERE since < :stale",
            {"stale": ctx.now() - 2 * uploads.TOMBSTONE_TIMEOUT},
        )

    async def audit_log(self) -> None:
        """Delete the audit log's entries older than `audit_retention_days` (0: none)."""
        days = self.ctx.settings.audit_retention_days
        if not days:
            return
        before = self.ctx.now() - days * 86400
        if self.report.dry_run:
            row = await self.ctx.db.fetchone(
                "SELECT COUNT(*) AS n FROM events WHERE at < :before", {"before": before}
            )
            self.report.events += int(row["n"]) if row else 0
            return
        async with self.ctx.db.transaction() as tx:
            pruned = await outbox.prune(tx, before=before)
            if pruned:
                await outbox.record(
                    tx,
                    "gc.deleted",
                    target=f"{pruned} audit log entries older than {days} days",
                    data={"events": pruned, "before": before},
                    at=self.ctx.now(),
                )
        self.report.events += pruned

    async def login_failures(self) -> None:
        """Forget the sign-in attempt counts that have lapsed (rows of every address that
        ever tried would pile up otherwise)."""
        if not self.report.dry_run:
            await logins.forget_lapsed(self.ctx.db, self.ctx.settings, now=self.ctx.now())


async def collect(
    ctx: Context,
    *,
    dry_run: bool = False,
    grace: float | None = None,
    progress: Progress | None = None,
    holder: str | None = None,
) -> GcReport:
    """Run one collection; Busy when another process holds the lease (a dry run needs none)."""
    started = time.monotonic()
    report = GcReport(dry_run=dry_run, grace=ctx.settings.gc_grace if grace is None else grace)
    holder = holder or leases.new_holder()
    if not dry_run:
        await _take_lease(ctx, holder)
    run = _Run(ctx, report, progress or _Silent(), holder)
    run_id = None if dry_run else await gc_history.started(ctx.db, holder=holder, now=ctx.now())
    try:
        await run.retention()
        await run.packages()
        await run.blobs()
        await run.orphans()
        await run.uploads()
        await run.audit_log()
        await run.login_failures()
    except Exception as exc:
        if run_id is not None:
            metrics.count_collection(completed=False)
            await gc_history.finished(ctx.db, run_id, now=ctx.now(), error=str(exc) or repr(exc))
        raise
    finally:
        if not dry_run:
            await leases.release(ctx.db, LEASE, holder)
    report.seconds = time.monotonic() - started
    if run_id is not None:
        metrics.count_collection(
            completed=True,
            manifests=report.manifests + report.retention_manifests,
            blobs=report.blobs,
            freed_bytes=report.freed_bytes,
        )
        await gc_history.finished(ctx.db, run_id, now=ctx.now(), report=report.figures())
    return report
