"""Deliveries of events to webhook endpoints, as rows: queuing one (once per endpoint,
event and generation), the history of an endpoint, and redelivering one. Each row holds the
body it sends, the same on every attempt; delivery.py sends them and records how it went."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cargohold.metadata.db import Queries, Row
from cargohold.services.errors import NotFound

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    webhook_id: int
    event_id: int
    generation: int
    action: str
    content_type: str
    payload: str
    state: str
    attempts: int
    created_at: float
    next_attempt_at: float | None
    last_attempt_at: float | None
    response_status: int | None
    duration_ms: int | None
    error: str | None


DELIVERY_SELECT = (
    "SELECT id, webhook_id, event_id, generation, action, content_type, payload, state,"
    " attempts, created_at, next_attempt_at, last_attempt_at, response_status, duration_ms,"
    " error FROM webhook_deliveries"
)


def delivery_of(row: Row) -> Delivery:
    return Delivery(
        id=int(row["id"]),
        webhook_id=int(row["webhook_id"]),
        event_id=int(row["event_id"]),
        generation=int(row["generation"]),
        action=row["action"],
        content_type=row["content_type"],
        payload=row["payload"],
        state=row["state"],
        attempts=int(row["attempts"]),
        created_at=float(row["created_at"]),
        next_attempt_at=row["next_attempt_at"],
        last_attempt_at=row["last_attempt_at"],
        response_status=row["response_status"],
        duration_ms=row["duration_ms"],
        error=row["error"],
    )


async def insert_delivery(
    tx: Queries,
    *,
    webhook_id: int,
    content_type: str,
    event_id: int,
    action: str,
    body: bytes,
    now: float,
    generation: int = 0,
) -> bool:
    """Queue one delivery, due now; False when it was queued already (fanned out twice)."""
    changed = await tx.execute(
        "INSERT INTO webhook_deliveries (webhook_id, event_id, generation, action,"
        " content_type, payload, state, attempts, created_at, next_attempt_at)"
        " VALUES (:w, :e, :g, :action, :type, :payload, :state, 0, :now, :now)"
        " ON CONFLICT (webhook_id, event_id, generation) DO NOTHING",
        {
            "w": webhook_id,
            "e": event_id,
            "g": generation,
            "action": action,
            "type": content_type,
            "payload": body.decode(),
            "state": PENDING,
            "now": now,
        },
    )
    return changed == 1


async def list_deliveries(
    db: Queries, *, webhook_id: int, limit: int, before: int | None = None
) -> tuple[list[Delivery], int | None]:
    """The endpoint's deliveries, newest first, before the delivery `before`; the page and
    the `before` of the next one (None on the last page)."""
    rows = await db.fetchall(
        f"{DELIVERY_SELECT} WHERE webhook_id = :w AND id < :before ORDER BY id DESC LIMIT :n",
        {"w": webhook_id, "before": before if before is not None else 2**62, "n": limit + 1},
    )
    found = [delivery_of(row) for row in rows[:limit]]
    return found, found[-1].id if len(rows) > limit else None


async def get_delivery(db: Queries, *, webhook_id: int, delivery_id: int) -> Delivery:
    row = await db.fetchone(
        f"{DELIVERY_SELECT} WHERE id = :id AND webhook_id = :w",
        {"id": delivery_id, "w": webhook_id},
    )
    if row is None:
        raise NotFound(f"no delivery {delivery_id} of webhook {webhook_id}")
    return delivery_of(row)


async def redeliver(tx: Queries, delivery: Delivery, *, now: float) -> Delivery:
    """Send a delivery's event again, as a new delivery with the same body and event id
    (receivers that saw it already can tell)."""
    row = await tx.fetchone(
        "SELECT MAX(generation) AS g FROM webhook_deliveries"
        " WHERE webhook_id = :w AND event_id = :e",
        {"w": delivery.webhook_id, "e": delivery.event_id},
    )
    generation = int(row["g"] or 0) + 1 if row is not None else 1
    await tx.execute(
        "INSERT INTO webhook_deliveries (webhook_id, event_id, generation, action,"
        " content_type, payload, state, attempts, created_at, next_attempt_at)"
        " VALUES (:w, :e, :g, :action, :type, :payload, :state, 0, :now, :now)",
        {
            "w": delivery.webhook_id,
            "e": delivery.event_id,
            "g": generation,
            "action": delivery.action,
            "type": delivery.content_type,
            "payload": delivery.payload,
            "state": PENDING,
            "now": now,
        },
    )
    found = await tx.fetchone(
        f"{DELIVERY_SELECT} WHERE webhook_id = :w AND event_id = :e AND generation = :g",
        {"w": delivery.webhook_id, "e": delivery.event_id, "g": generation},
    )
    assert found is not None
    return delivery_of(found)


def payload_json(delivery: Delivery) -> Any:
    try:
        return json.loads(delivery.payload)
    except ValueError:
        return delivery.payload
