"""Replication jobs, as rows: one per rule and pushed manifest, queued from the events
outbox, and the history of a rule.

Queuing reads the events after the cursor (`replication_cursors`, one row) in id order and
queues a job for every rule that covers each `manifest.pushed`, in one transaction that holds
the cursor row, as webhook fan-out does (services/events/cursors.py): any node may run it,
queuing twice is harmless (one job per rule and event), the cursor only moves forward and
waits at a young gap in the ids. The jobs are run under their rule's lease
(services/events/leased_queue.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.metadata.db import Database, Queries, Row
from cargohold.services.errors import Conflict, NotFound
from cargohold.services.events import outbox
from cargohold.services.events.audit import Event
from cargohold.services.events.cursors import OutboxCursor, read_after
from cargohold.services.events.leased_queue import LeasedQueue
from cargohold.services.registry.replication import rules
from cargohold.services.registry.replication.rules import Replication

PENDING, DONE, FAILED = "pending", "done", "failed"
STATES = (PENDING, DONE, FAILED)
CURSOR = OutboxCursor(table="replication_cursors", owners="replications")
PUSHED = "manifest.pushed"


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    replication_id: int
    event_id: int
    package: str
    tag: str | None
    digest: str
    state: str
    attempts: int
    created_at: float
    next_attempt_at: float | None
    last_attempt_at: float | None
    finished_at: float | None
    copied: int | None
    error: str | None


JOB_SELECT = (
    "SELECT id, replication_id, event_id, package, tag, digest, state, attempts, created_at,"
    " next_attempt_at, last_attempt_at, finished_at, copied, error FROM replication_jobs"
)


QUEUE = LeasedQueue(
    owners="replications",
    items="replication_jobs",
    owner_column="replication_id",
    select_items=JOB_SELECT,
)


def job_of(row: Row) -> Job:
    return Job(
        id=int(row["id"]),
        replication_id=int(row["replication_id"]),
        event_id=int(row["event_id"]),
        package=row["package"],
        tag=row["tag"],
        digest=row["digest"],
        state=row["state"],
        attempts=int(row["attempts"]),
        created_at=float(row["created_at"]),
        next_attempt_at=row["next_attempt_at"],
        last_attempt_at=row["last_attempt_at"],
        finished_at=row["finished_at"],
        copied=row["copied"],
        error=row["error"],
    )


def wants(rule: Replication, event: Event) -> bool:
    """A push of a manifest to a package the rule covers, after the rule was made."""
    return (
        event.id > rule.since_event
        and event.action == PUSHED
        and event.outcome == outbox.OK
        and bool(event.package and event.digest)
        and rule.covers(event.package or "")
    )


async def queue(db: Database, now: float) -> int:
    """Queue the jobs of the pushes after the cursor; how many events were read (a full
    batch: call again)."""
    if not await CURSOR.has_unread(db):
        return 0  # no active rule, or nothing new: no write transaction
    async with db.transaction() as tx:
        position = await CURSOR.hold(tx, now)
        found = await rules.active_replications(tx)
        if not found:
            return 0
        position = max(position, min(rule.since_event for rule in found))
        events = await read_after(tx, position)
        for event in events:
            for rule in found:
                if wants(rule, event):
                    await insert_job(tx, rule=rule, event=event, now=now)
        await CURSOR.move(tx, position, events, now)
    return len(events)


async def insert_job(tx: Queries, *, rule: Replication, event: Event, now: float) -> bool:
    """Queue one job, due now; False when it was queued already."""
    changed = await tx.execute(
        "INSERT INTO replication_jobs (replication_id, event_id, package, tag, digest, state,"
        " attempts, created_at, next_attempt_at) VALUES (:r, :e, :package, :tag, :digest,"
        " :state, 0, :now, :now) ON CONFLICT (replication_id, event_id) DO NOTHING",
        {
            "r": rule.id,
            "e": event.id,
            "package": event.package,
            "tag": event.tag,
            "digest": event.digest,
            "state": PENDING,
            "now": now,
        },
    )
    return changed == 1


async def list_jobs(
    db: Queries,
    *,
    replication_id: int,
    limit: int,
    before: int | None = None,
    state: str | None = None,
) -> tuple[list[Job], int | None]:
    """The rule's jobs, newest first, before the job `before` (optionally in one state); the
    page and the `before` of the next one (None on the last page)."""
    sql = f"{JOB_SELECT} WHERE replication_id = :r AND id < :before"
    params: dict[str, object] = {
        "r": replication_id,
        "before": before if before is not None else 2**62,
        "n": limit + 1,
    }
    if state is not None:
        sql += " AND state = :state"
        params["state"] = state
    rows = await db.fetchall(f"{sql} ORDER BY id DESC LIMIT :n", params)
    found = [job_of(row) for row in rows[:limit]]
    return found, found[-1].id if len(rows) > limit else None


async def counts(db: Queries, *, replication_id: int) -> dict[str, int]:
    """How many jobs of the rule are in each state."""
    rows = await db.fetchall(
        "SELECT state, COUNT(*) AS n FROM replication_jobs WHERE replication_id = :r"
        " GROUP BY state",
        {"r": replication_id},
    )
    found = dict.fromkeys(STATES, 0)
    found.update({row["state"]: int(row["n"]) for row in rows})
    return found


async def get_job(db: Queries, *, replication_id: int, job_id: int) -> Job:
    row = await db.fetchone(
        f"{JOB_SELECT} WHERE id = :id AND replication_id = :r", {"id": job_id, "r": replication_id}
    )
    if row is None:
        raise NotFound(f"no job {job_id} of replication {replication_id}")
    return job_of(row)


async def retry_job(tx: Queries, job: Job, *, now: float) -> Job:
    """A failed job is pending again, due now, its attempts counted from zero."""
    if job.state != FAILED:
        raise Conflict(f"job {job.id} is {job.state}; only a failed job is retried by hand")
    await tx.execute(
        "UPDATE replication_jobs SET state = :pending, attempts = 0, next_attempt_at = :now,"
        " finished_at = NULL WHERE id = :id",
        {"pending": PENDING, "now": now, "id": job.id},
    )
    await tx.execute(
        "UPDATE replications SET retry_at = NULL WHERE id = :r", {"r": job.replication_id}
    )
    return await get_job(tx, replication_id=job.replication_id, job_id=job.id)


async def prune(tx: Queries, *, before: float) -> int:
    """Delete finished jobs made before `before`."""
    return await QUEUE.prune(tx, before=before)
