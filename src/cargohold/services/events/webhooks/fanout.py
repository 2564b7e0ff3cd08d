"""Fan-out: the events after the cursor (`webhook_cursors`, one row), read in id order, each
queued as a delivery (with its body) to every endpoint that wants it, in one transaction
that holds the cursor row (services/events/cursors.py). Any number of nodes may run it at
once: queuing twice is harmless (one delivery per endpoint, event and generation), and the
cursor only moves forward, waiting at a young gap in the ids.
"""

from __future__ import annotations

from collections.abc import Sequence

from cargohold.metadata.db import Database, Queries
from cargohold.services.events.audit import Event
from cargohold.services.events.cursors import OutboxCursor, read_after
from cargohold.services.events.webhooks import deliveries, endpoints, formats
from cargohold.services.events.webhooks.endpoints import Webhook
from cargohold.services.events.webhooks.formats import Occurrence, Source

CURSOR = OutboxCursor(table="webhook_cursors", owners="webhooks")


async def fan_out(db: Database, source: Source, now: float) -> int:
    """Queue the deliveries of the events after the cursor; how many events were read (a
    full batch: call again)."""
    if not await CURSOR.has_unread(db):
        return 0  # no endpoint, or nothing new: no write transaction
    async with db.transaction() as tx:
        position = await CURSOR.hold(tx, now)
        hooks = await endpoints.active_webhooks(tx)
        if not hooks:
            return 0
        # What no endpoint wants (what happened before the oldest one was made) is skipped.
        position = max(position, min(hook.since_event for hook in hooks))
        events = await read_after(tx, position)
        repositories = await _repositories(tx, events, hooks)
        for event in events:
            for hook in hooks:
                if hook.wants(event):
                    await _queue(
                        tx, hook, event, repositories.get(event.package or ""), source, now
                    )
        await CURSOR.move(tx, position, events, now)
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
