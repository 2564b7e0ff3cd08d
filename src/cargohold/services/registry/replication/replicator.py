"""The replicator: copying pushes to remote registries, in every node (docs/replication.md).

Two steps, each safe to run on any number of nodes at once, as webhook delivery does
(services/events/cursors.py, services/events/leased_queue.py):

1. **Queuing** (jobs.py) makes one job per rule and pushed manifest, from the events outbox.
2. **Copying**: a node takes a rule's lease (columns of `replications`), runs its due jobs
   oldest first, one at a time, each outside any transaction, and records each result
   before the next. Two nodes never copy for one rule at once, and a rule's pushes reach
   the remote in the order they were made. A node that dies mid-job leaves the job pending
   and the lease expiring; whichever node comes next copies it again (what the remote has
   already is skipped).

A job copies the manifest's closure (closure.py): blobs the remote lacks, platform images
before their index, referrers after their subject, then points the tag. A failed attempt
is retried with exponential back-off (from `replication_retry_initial`, doubling, at most
`replication_retry_max`, with jitter) when trying again may help (no answer, 5xx, 408,
429); while a rule backs off its other jobs wait too. A job fails for good after
`replication_max_attempts` attempts, or at once when the remote refused the credentials or
what was sent.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cargohold.config import Settings
from cargohold.metadata.db import Database
from cargohold.oci import mediatypes as mt
from cargohold.oci.digest import Digest
from cargohold.services import outbound, sealing
from cargohold.services.events import cursors
from cargohold.services.events.leased_queue import (
    holder_name,
    jittered_backoff,
    poll_forever,
    serve_each,
)
from cargohold.services.registry.replication import jobs, remotes, rules
from cargohold.services.registry.replication.closure import Gone, Item, closure
from cargohold.services.registry.replication.jobs import DONE, FAILED, PENDING, QUEUE, Job
from cargohold.services.registry.replication.rules import Replication
from cargohold.services.remote import push
from cargohold.services.remote.client import Remote
from cargohold.services.remote.push import PushError
from cargohold.storage.base import Backend, ObjectNotFound
from cargohold.storage.paths import blob_key

log = logging.getLogger("cargohold.replication")

PRUNE_INTERVAL = 3600.0
MANIFEST_TYPES = ", ".join(sorted(mt.MANIFESTS))


def backoff(settings: Settings, attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones: doubling from
    `replication_retry_initial` up to `replication_retry_max`, each between half and all
    of that (jitter)."""
    return jittered_backoff(
        first=settings.replication_retry_initial,
        longest=settings.replication_retry_max,
        attempts=attempts,
    )


def fallback_tag(digest: str) -> str:
    """The referrers tag schema (OCI distribution spec 1.1): `sha256-HEX`."""
    algorithm, _, hexa = digest.partition(":")
    return f"{algorithm}-{hexa}"[:128]


@dataclass(frozen=True, slots=True)
class Outcome:
    done: bool
    retry: bool = False
    copied: int = 0
    error: str | None = None


@dataclass
class Replicator:
    """One process's share of replication."""

    db: Database
    storage: Backend
    settings: Settings
    key: bytes  # opens the rules' sealed passwords
    clock: Callable[[], float] = time.time  # tests move it on to make back-off due
    holder: str = field(default_factory=holder_name)
    _pruned_at: float = 0.0

    @property
    def lease_seconds(self) -> float:
        """Long enough for one request and its bookkeeping; renewed as a job goes on."""
        return 2 * self.settings.replication_timeout + 30

    # ----------------------------------------------------------------------- copying

    async def copy_due(self, *, concurrency: int = 4) -> int:
        """Serve every rule with a job due and no other node serving it; how many jobs were
        attempted."""
        due = await QUEUE.owners_due(self.db, holder=self.holder, now=self.clock())
        return await serve_each(due, self.serve_rule, concurrency=concurrency)

    async def serve_rule(self, replication_id: int, *, budget: int = 50) -> int:
        """Under the rule's lease, run its due jobs one at a time, oldest first, until none
        is due, it backs off, or `budget` jobs were attempted."""
        made = 0
        remote: Remote | None = None  # one per round: its tokens serve every job
        try:
            while made < budget:
                taken = await self._take(replication_id)
                if taken is None:
                    break
                rule, password, job = taken
                if remote is None:
                    remote = remotes.remote(rule.url, self.settings, rule.username, password)
                started = time.monotonic()
                try:
                    outcome = await self.run_job(rule, remote, job)
                except Exception as exc:  # the store or the database failing here: later
                    log.exception("replication %d: job %d failed", rule.id, job.id)
                    outcome = Outcome(False, retry=True, error=f"{type(exc).__name__} here")
                await self._record(rule, job, outcome, time.monotonic() - started)
                made += 1
        finally:
            await QUEUE.release(self.db, replication_id, holder=self.holder)
        return made

    async def _take(self, replication_id: int) -> tuple[Replication, str | None, Job] | None:
        now = self.clock()
        async with self.db.transaction() as tx:
            found = await QUEUE.take(
                tx, replication_id, holder=self.holder, now=now, seconds=self.lease_seconds
            )
            if found is None:
                return None
            row = await tx.fetchone(
                "SELECT workspace_id, password FROM replications WHERE id = :id",
                {"id": replication_id},
            )
            if row is None:
                return None
            rule = await rules.get_replication(
                tx, workspace_id=int(row["workspace_id"]), replication_id=replication_id
            )
        job = jobs.job_of(found)
        password = None
        if row["password"] is not None:
            try:
                password = sealing.unseal(self.key, row["password"], rules.PASSWORD_PURPOSE)
            except sealing.Unsealable:
                await self._record(
                    rule,
                    job,
                    Outcome(False, error="its password cannot be opened with this registry's key"),
                    0.0,
                )
                return None
        return rule, password, job

    async def _renew(self, replication_id: int) -> None:
        until = self.clock() + self.lease_seconds
        await QUEUE.renew(self.db, replication_id, holder=self.holder, until=until)

    async def run_job(self, rule: Replication, remote: Remote, job: Job) -> Outcome:
        """One attempt, outside any transaction."""
        try:
            items = await closure(self.db, package=job.package, digest=job.digest)
        except Gone as exc:
            return Outcome(False, error=f"{exc}; nothing to copy")
        try:
            await remotes.check(rule.url, self.settings)
        except outbound.Refused as exc:
            return Outcome(False, error=f"the remote URL: {exc.message}")
        except outbound.OutboundError as exc:
            return Outcome(False, retry=True, error=exc.message)
        name = rule.remote_name(job.package)
        copied = 0
        try:
            for item in items:
                copied += await self._copy(remote, name, item)
                await self._renew(rule.id)
            if job.tag is not None and await self._tag_holds(job):
                top = next(item for item in items if item.digest == job.digest)
                await push.push_manifest(remote, name, job.tag, top.media_type, top.payload)
                copied += 1
        except PushError as exc:
            return Outcome(False, retry=exc.retry, copied=copied, error=exc.message)
        except ObjectNotFound:
            return Outcome(
                False, copied=copied, error="a blob is missing from this registry's store"
            )
        return Outcome(True, copied=copied)

    async def _tag_holds(self, job: Job) -> bool:
        """Whether the job's tag still names the job's image here. A tag moved or deleted
        since that push is left as it is at the remote: a later job (or none, for a deleted
        tag) says where it is, and an old job tried again never moves it back."""
        row = await self.db.fetchone(
            "SELECT m.digest FROM tags t JOIN packages p ON p.id = t.package_id"
            " JOIN manifests m ON m.id = t.manifest_id WHERE p.name = :p AND t.name = :t",
            {"p": job.package, "t": job.tag},
        )
        holds = row is not None and row["digest"] == job.digest
        if not holds:
            log.info(
                "replication: job %d copies %s by digest only: %s:%s has moved since",
                job.id,
                job.digest,
                job.package,
                job.tag,
            )
        return holds

    async def _copy(self, remote: Remote, name: str, item: Item) -> int:
        """One manifest and the blobs it needs, unless the remote has it; how many things
        were sent."""
        if await push.has_manifest(remote, name, item.digest, MANIFEST_TYPES):
            return 0
        sent = 0
        for blob in item.blobs:
            if await push.has_blob(remote, name, blob.digest):
                continue
            key = blob_key(Digest.parse(blob.digest))

            async def read(offset: int, length: int, key: str = key) -> bytes:
                return b"".join([c async for c in self.storage.read(key, offset, length)])

            await push.push_blob(
                remote,
                name,
                blob.digest,
                blob.size,
                read,
                chunk_size=self.settings.replication_chunk_size,
            )
            sent += 1
        pushed = await push.push_manifest(remote, name, item.digest, item.media_type, item.payload)
        sent += 1
        if item.subject is not None and not pushed.subject_seen:
            await self._index_referrer(remote, name, item)
        return sent

    async def _index_referrer(self, remote: Remote, name: str, item: Item) -> None:
        """A remote without the referrers API (it did not answer OCI-Subject) finds a
        referrer through the tag schema: an index tagged `sha256-HEX` of the subject that
        lists its referrers, which is what clients such as oras and cosign read there."""
        assert item.subject is not None
        tag = fallback_tag(item.subject)
        held = await push.get_manifest(remote, name, tag, mt.OCI_INDEX)
        index: dict[str, object] = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
        if held is not None:
            with contextlib.suppress(ValueError):
                loaded = json.loads(held)
                if isinstance(loaded, dict) and isinstance(loaded.get("manifests"), list):
                    index = loaded
        listed = index["manifests"]
        assert isinstance(listed, list)
        if any(isinstance(d, dict) and d.get("digest") == item.digest for d in listed):
            return
        descriptor: dict[str, object] = {
            "mediaType": item.media_type,
            "digest": item.digest,
            "size": len(item.payload),
        }
        if item.artifact_type:
            descriptor["artifactType"] = item.artifact_type
        if item.annotations:
            descriptor["annotations"] = item.annotations
        listed.append(descriptor)
        body = json.dumps(index, separators=(",", ":")).encode()
        await push.push_manifest(remote, name, tag, mt.OCI_INDEX, body)

    async def _record(self, rule: Replication, job: Job, outcome: Outcome, seconds: float) -> None:
        now = self.clock()
        attempts = job.attempts + 1
        state, error = DONE, outcome.error
        due: float | None = None
        finished: float | None = now
        rule_retry: float | None = None
        if not outcome.done:
            state = FAILED
            if outcome.retry and attempts < self.settings.replication_max_attempts:
                wait = backoff(self.settings, attempts)
                state, due, finished, rule_retry = PENDING, now + wait, None, now + wait
            elif outcome.retry:
                error = f"{error}; gave up after {attempts} attempts"
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE replication_jobs SET state = :state, attempts = :attempts,"
                " next_attempt_at = :due, last_attempt_at = :now, finished_at = :finished,"
                " copied = :copied, error = :error WHERE id = :id",
                {
                    "state": state,
                    "attempts": attempts,
                    "due": due,
                    "now": now,
                    "finished": finished,
                    "copied": outcome.copied,
                    "error": error,
                    "id": job.id,
                },
            )
            if outcome.done:
                await tx.execute(
                    "UPDATE replications SET last_success_at = :now, retry_at = NULL"
                    " WHERE id = :id",
                    {"now": now, "id": rule.id},
                )
            else:
                await tx.execute(
                    "UPDATE replications SET last_error = :error, last_error_at = :now,"
                    " retry_at = :retry WHERE id = :id",
                    {"error": (error or "")[:2000], "now": now, "retry": rule_retry, "id": rule.id},
                )
        log.info(
            "replication %d: job %d (%s %s) %s in %.2f s",
            rule.id,
            job.id,
            job.package,
            job.tag or job.digest,
            f"done, {outcome.copied} sent" if outcome.done else f"{state}: {error}",
            seconds,
        )

    # ----------------------------------------------------------------------- rounds

    async def run_once(self) -> int:
        """One round: queue new pushes, copy what is due, prune old jobs; how much work."""
        work = await cursors.read_all(lambda: jobs.queue(self.db, self.clock()))
        work += await self.copy_due()
        now = self.clock()
        if now - self._pruned_at > PRUNE_INTERVAL:
            self._pruned_at = now
            async with self.db.transaction() as tx:
                await jobs.prune(tx, before=now - self.settings.replication_history_days * 86400)
        return work

    async def run_forever(self) -> None:
        """Every `replication_poll_interval` seconds (at once again while there is work)."""
        await poll_forever(
            self.run_once,
            interval=self.settings.replication_poll_interval,
            log=log,
            what="replication",
        )
