"""A durable queue of work served by every node at once, one *owner* at a time, as webhook
delivery (endpoints and their deliveries) and replication (rules and their jobs) do.

Each piece of work is a row of `items` (`state`, `next_attempt_at`, `created_at`) that
belongs to a row of `owners`, which carries the owner's lease (`lease_holder`,
`lease_until`) and back-off (`retry_at`) beside `active`. A node takes an owner's lease and
works through its due items oldest first, one at a time, each outside any transaction, and
records each result before the next; so two nodes never serve one owner at once, and an
owner's work is done in the order it was queued. A node that dies mid-item leaves the item
pending and the lease expiring: whichever node comes next does it again (at least once).
While an owner backs off, its other items wait too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from cargohold.metadata.db import Database, Queries, Row

PENDING = "pending"  # the state of an item still to do, in both queues


def holder_name() -> str:
    """A name for this process as a lease holder that people can trace: host, pid and a
    random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def jittered_backoff(*, first: float, longest: float, attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones: doubling from `first`
    up to `longest`, each between half and all of that (jitter)."""
    ceiling: float = min(longest, first * 2.0 ** max(0, attempts - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


@dataclass(frozen=True, slots=True)
class LeasedQueue:
    """The queue in `items`, whose column `owner_column` names its owner in `owners`."""

    owners: str
    items: str
    owner_column: str
    select_items: str  # SELECT ... FROM items, to which a WHERE clause is added

    async def owners_due(self, db: Database, *, holder: str, now: float) -> list[int]:
        """Active owners with an item due, not backing off, whose lease is free or
        `holder`'s (at most 100)."""
        rows = await db.fetchall(
            f"SELECT DISTINCT i.{self.owner_column} AS owner_id FROM {self.items} i"
            f" JOIN {self.owners} o ON o.id = i.{self.owner_column}"
            " WHERE i.state = :pending AND i.next_attempt_at <= :now AND o.active"
            " AND (o.retry_at IS NULL OR o.retry_at <= :now)"
            " AND (o.lease_until IS NULL OR o.lease_until < :now OR o.lease_holder = :me)"
            " LIMIT 100",
            {"pending": PENDING, "now": now, "me": holder},
        )
        return [int(row["owner_id"]) for row in rows]

    async def take(
        self, tx: Queries, owner_id: int, *, holder: str, now: float, seconds: float
    ) -> Row | None:
        """Take (or renew) the owner's lease for `seconds` and return its oldest due item;
        None when another node holds it, it is off or backing off, or nothing is due."""
        taken = await tx.execute(
            f"UPDATE {self.owners} SET lease_holder = :me, lease_until = :until"
            " WHERE id = :id AND active AND (retry_at IS NULL OR retry_at <= :now)"
            " AND (lease_until IS NULL OR lease_until < :now OR lease_holder = :me)",
            {"me": holder, "until": now + seconds, "id": owner_id, "now": now},
        )
        if taken != 1:
            return None
        return await tx.fetchone(
            f"{self.select_items} WHERE {self.owner_column} = :o AND state = :pending"
            " AND next_attempt_at <= :now ORDER BY id LIMIT 1",
            {"o": owner_id, "pending": PENDING, "now": now},
        )

    async def renew(self, db: Database, owner_id: int, *, holder: str, until: float) -> None:
        """Keep the lease until `until` (while one item takes long)."""
        async with db.transaction() as tx:
            await tx.execute(
                f"UPDATE {self.owners} SET lease_until = :until"
                " WHERE id = :id AND lease_holder = :me",
                {"until": until, "id": owner_id, "me": holder},
            )

    async def release(self, db: Database, owner_id: int, *, holder: str) -> None:
        """Give the lease back, if it is still `holder`'s; failing here only leaves it to
        expire."""
        with contextlib.suppress(Exception):
            async with db.transaction() as tx:
                await tx.execute(
                    f"UPDATE {self.owners} SET lease_holder = NULL, lease_until = NULL"
                    " WHERE id = :id AND lease_holder = :me",
                    {"id": owner_id, "me": holder},
                )

    async def prune(self, tx: Queries, *, before: float) -> int:
        """Delete finished items made before `before`."""
        removed: int = await tx.execute(
            f"DELETE FROM {self.items} WHERE state <> :pending AND created_at < :before",
            {"pending": PENDING, "before": before},
        )
        return removed


async def serve_each(
    owners: Iterable[int], serve: Callable[[int], Awaitable[int]], *, concurrency: int
) -> int:
    """`serve` every owner, `concurrency` at a time; the sum of what they return."""
    gate = asyncio.Semaphore(concurrency)

    async def one(owner_id: int) -> int:
        async with gate:
            return await serve(owner_id)

    return sum(await asyncio.gather(*(one(owner_id) for owner_id in owners)))


async def poll_forever(
    run_once: Callable[[], Awaitable[int]],
    *,
    interval: float,
    log: logging.Logger,
    what: str,
) -> None:
    """Call `run_once` (how much work it found) again and again: at once while there is
    work, after `interval` seconds when there was none or it failed (logged as `what`
    failed)."""
    while True:
        try:
            work = await run_once()
        except Exception:
            log.exception("%s failed", what)
            work = 0
        await asyncio.sleep(0 if work else interval)
