"""Reading the events outbox in id order under one cursor row, as webhook fan-out and the
replication queue do: each has its cursor table (one row, `name` = "events") and a table
of *owners* (endpoints, rules) with `active` and `since_event`, the id of the last event
before the owner was made.

A reader holds the cursor row for its transaction, reads the events after it (never
before the oldest active owner), queues its work, and moves the cursor only forward. Any
number of nodes may do this at once: queuing twice must be harmless (one piece of work per
owner and event), which both readers make sure of with a unique key.

On PostgreSQL an event id can become visible after a higher one (transactions commit in any
order). So the cursor stops before a gap in the ids until the gap is `GAP_WAIT` seconds old
(a rolled-back transaction leaves one for good); the events after it are queued at once all
the same, and queued again, harmlessly, until the cursor passes them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from cargohold.metadata.db import Database, Queries
from cargohold.services.events import audit
from cargohold.services.events.audit import Event

NAME = "events"  # the one row of each cursor table
BATCH = 500  # events read per transaction
GAP_WAIT = 60.0  # seconds an id gap may hold the cursor
ROUNDS = 20  # full batches read in one round at the most, so that the work is not starved


@dataclass(frozen=True, slots=True)
class OutboxCursor:
    """One reader's cursor over the outbox: `table` holds its position, `owners` the rows
    whose `since_event` says where reading starts."""

    table: str
    owners: str

    async def has_unread(self, db: Database) -> bool:
        """Is there an active owner and an event past the cursor? Read without a write
        transaction, so that an idle registry writes nothing."""
        row = await db.fetchone(
            f"SELECT (SELECT COALESCE(MAX(id), 0) FROM events) AS top,"
            f" (SELECT position FROM {self.table} WHERE name = :n) AS position,"
            f" (SELECT MIN(since_event) FROM {self.owners} WHERE active) AS floor",
            {"n": NAME},
        )
        if row is None or row["floor"] is None:
            return False  # no active owner: nothing to do, nothing written
        return row["position"] is None or row["top"] > row["position"]

    async def hold(self, tx: Queries, now: float) -> int:
        """The cursor, held for this transaction. Made when missing: at the oldest owner's
        start, else at the newest event (nothing before an owner is ever its)."""
        select = f"SELECT position FROM {self.table} WHERE name = :n{tx.for_update}"
        row = await tx.fetchone(select, {"n": NAME})
        if row is None:
            await tx.execute(
                f"INSERT INTO {self.table} (name, position, updated_at) VALUES (:n, COALESCE("
                f" (SELECT MIN(since_event) FROM {self.owners}), (SELECT MAX(id) FROM events),"
                " 0), :now) ON CONFLICT (name) DO NOTHING",
                {"n": NAME, "now": now},
            )
            row = await tx.fetchone(select, {"n": NAME})
        assert row is not None
        return int(row["position"])

    async def move(self, tx: Queries, position: int, events: Sequence[Event], now: float) -> None:
        """Move the cursor on from `position` past the events read, as far as it is
        `settled`; never back."""
        await tx.execute(
            f"UPDATE {self.table} SET position = :p, updated_at = :now"
            " WHERE name = :n AND position < :p",
            {"p": settled(position, events, now), "now": now, "n": NAME},
        )


async def read_after(tx: Queries, position: int) -> list[Event]:
    """The next batch of events after `position`, in id order."""
    rows = await tx.fetchall(
        f"SELECT {audit._COLUMNS} FROM events WHERE id > :p ORDER BY id LIMIT :n",
        {"p": position, "n": BATCH},
    )
    return [audit._event(row) for row in rows]  # the audit log's reading of a row


def settled(position: int, events: Sequence[Event], now: float) -> int:
    """How far the cursor may move: past every event read, but not past a gap in the ids
    that is younger than GAP_WAIT (an event there may still commit)."""
    expected = position + 1
    for event in events:
        if event.id != expected and event.at > now - GAP_WAIT:
            return expected - 1
        expected = event.id + 1
    return expected - 1


async def read_all(read_batch: Callable[[], Awaitable[int]]) -> int:
    """Call `read_batch` (how many events it read) while it reads full batches, at most
    ROUNDS times; how many events were read in all."""
    read_in_all = 0
    for _ in range(ROUNDS):
        read = await read_batch()
        read_in_all += read
        if read < BATCH:
            break
    return read_in_all
