"""Fan-out: the events after the cursor (`webhook_cursors`, one row), read in id order, each
queued as a delivery (with its body) to every endpoint that wants it, in one transaction
that holds the cursor row. Any number of nodes may run it at once: queuing twice is harmless
(one delivery per endpoint, event and generation), and the cursor only moves forward.

On PostgreSQL an event id can become visible after a higher one (transactions commit in any
order). So the cursor stops before a gap in the ids until the gap is `GAP_WAIT` seconds old
(a rolled-back transaction leaves one for good); the events after it are queued at once all
the same, and queued again, harmlessly, until the cursor passes them.
"""

from __future__ import annotations

from collections.abc import Sequence

from cargohold.metadata.db import Database, Queries
from cargohold.services.events import audit
from cargohold.services.events.audit import Event
from cargohold.services.events.webhooks import deliveries, endpoints, formats
from cargohold.services.events.webhooks.endpoints import Webhook
from cargohold.services.events.webhooks.formats import Occurrence, Source

CURSOR = "events"
BATCH = 500  # events per fan-out transaction
GAP_WAIT = 60.0  # seconds an id gap may hold the cursor


async def fan_out(db: Database, source: Source, now: float) -> int:
    """Queue the deliveries of the events after the cursor; how many events were read (a
    full batch: call again)."""
    row = await db.fetchone(
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM events) AS top,"
        " (SELECT position FROM webhook_cursors WHERE name = :n) AS position,"
        " (SELECT MIN(since_event) FROM webhooks WHERE active) AS floor",
        {"n": CURSOR},
    )
    if row is None or row["floor"] is None:
        return 0  # no endpoint: nothing to do, nothing written
    if row["position"] is not None and row["top"] <= row["position"]:
        return 0  # nothing new: no write transaction
    async with db.transaction() as tx:
        position = await _cursor(tx, now)
        hooks = await endpoints.active_webhooks(tx)
        if not hooks:
            return 0
        # What no endpoint wants (what happened before the oldest one was made) is skipped.
        position = max(position, min(hook.since_event for hook in hooks))
        rows = await tx.fetchall(
            f"SELECT {audit._COLUMNS} FROM events WHERE id > :p ORDER BY id LIMIT :n",
            {"p": position, "n": BATCH},
        )
        events = [audit._event(row) for row in rows]  # the audit log's reading of a row
        repositories = await _repositories(tx, events, hooks)
        for event in events:
            for hook in hooks:
                if hook.wants(event):
                    await _queue(
                        tx, hook, event, repositories.get(event.package or ""), source, now
                    )
        await _move_cursor(tx, settled(position, events, now), now)
    return len(events)


async def _queue(
    tx: Queries, hook: Webhook, event: Event, repository: str | None, source: Source, now: float
) -> None:
    body = formats.render(hook.format, Occurrence(event, repository=repository), source)
    if body is not None:
        await deliveries.insert_delivery(
            tx,
            webhook_id=hook.id,
            content_type=formats.CONTENT_TYPES[hook.format],
            event_id=event.id,
            action=event.action,
            body=body,
            now=now,
        )


async def _cursor(tx: Queries, now: float) -> int:
    """The cursor, held for this transaction. Made when missing: at the oldest endpoint's
    start, else at the newest event (nothing before an endpoint is ever its)."""
    row = await tx.fetchone(
        f"SELECT position FROM webhook_cursors WHERE name = :n{tx.for_update}", {"n": CURSOR}
    )
    if row is not None:
        return int(row["position"])
    await tx.execute(
        "INSERT INTO webhook_cursors (name, position, updated_at) VALUES (:n, COALESCE("
        " (SELECT MIN(since_event) FROM webhooks), (SELECT MAX(id) FROM events), 0), :now)"
        " ON CONFLICT (name) DO NOTHING",
        {"n": CURSOR, "now": now},
    )
    row = await tx.fetchone(
        f"SELECT position FROM webhook_cursors WHERE name = :n{tx.for_update}", {"n": CURSOR}
    )
    assert row is not None
    return int(row["position"])


async def _move_cursor(tx: Queries, position: int, now: float) -> None:
    await tx.execute(
        "UPDATE webhook_cursors SET position = :p, updated_at = :now"
        " WHERE name = :n AND position < :p",
        {"p": position, "now": now, "n": CURSOR},
    )


def settled(position: int, events: Sequence[Event], now: float) -> int:
    """How far the cursor may move: past every event read, but not past a gap in the ids
    that is younger than GAP_WAIT (an event there may still commit)."""
    expected = position + 1
    for event in events:
        if event.id != expected and event.at > now - GAP_WAIT:
            return expected - 1
        expected = event.id + 1
    return expected - 1


async def _repositories(
    tx: Queries, events: Sequence[Event], hooks: Sequence[Webhook]
) -> dict[str, str]:
    """The repository each package of these events is linked to now, for the bodies."""
    names = sorted({e.package for e in events if e.package and any(h.wants(e) for h in hooks)})
    found: dict[str, str] = {}
    for name in names:
        row = await tx.fetchone(
            "SELECT ws.slug AS workspace, r.slug AS repository FROM packages p"
            " JOIN package_links pl ON pl.package_id = p.id"
            " JOIN repositories r ON r.id = pl.repository_id"
            " JOIN workspaces ws ON ws.id = r.workspace_id WHERE p.name = :name",
            {"name": name},
        )
        if row is not None:
            found[name] = f"{row['workspace']}/{row['repository']}"
    return found
