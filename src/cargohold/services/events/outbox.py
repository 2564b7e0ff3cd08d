"""The outbox: `record` writes one event row in the transaction of the change it describes,
so the change and its event commit or roll back together (docs/audit.md).

Events are appended and never changed; `prune` deletes the oldest, past the audit log's
retention, for garbage collection. Webhook delivery reads the same rows in id order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from cargohold.metadata.db import Queries
from cargohold.oci.text import encodable
from cargohold.services.events.actors import USER, Actor, current

OK = "ok"
REFUSED = "refused"
FAILED = "failed"
OUTCOMES = (OK, REFUSED, FAILED)

# Longest value of each bounded column (metadata/schema.py): longer text is cut, never refused,
# so that no change fails for the sake of its event.
_LIMITS = {
    "action": 64,
    "actor_id": 64,
    "actor_name": 320,
    "client_address": 64,
    "request_id": 128,
    "workspace": 64,
    "package": 255,
    "repository": 255,
    "tag": 128,
    "digest": 150,
}

_INSERT = (
    "INSERT INTO events (at, action, outcome, actor_kind, actor_id, actor_name,"
    " client_address, request_id, workspace, package, repository, tag, digest, target, data)"
    " VALUES (:at, :action, :outcome, :actor_kind, :actor_id, :actor_name, :client_address,"
    " :request_id, :workspace, :package, :repository, :tag, :digest, :target, :data)"
)


def _text(value: str | None, limit: int | None = None) -> str | None:
    if value is None:
        return None
    text: str = encodable(str(value))
    return text if limit is None else text[:limit]


def workspace_of(name: str | None) -> str | None:
    """The workspace of a package or repository name: its first component."""
    if not name:
        return None
    slug, sep, _ = name.partition("/")
    return slug if sep else None


async def record(
    tx: Queries,
    action: str,
    *,
    outcome: str = OK,
    workspace: str | None = None,
    package: str | None = None,
    repository: str | None = None,
    tag: str | None = None,
    digest: str | None = None,
    target: str | None = None,
    data: Mapping[str, Any] | None = None,
    actor: Actor | None = None,
    at: float | None = None,
) -> None:
    """Append an event, in `tx`: the transaction of the change it records (a refusal that
    changes nothing, such as a wrong password, commits its event on its own).

    The actor is the current request's or command's (`actors`) unless one is given. The
    workspace defaults to the package's (or repository's) first name component."""
    assert outcome in OUTCOMES
    who = actor or current()
    payload = dict(data or {})
    if who.kind == USER and who.token_id is not None:
        payload.setdefault("token_id", who.token_id)
    values: dict[str, Any] = {
        "at": time.time() if at is None else at,
        "action": action,
        "outcome": outcome,
        "actor_kind": who.kind,
        "actor_id": who.id,
        "actor_name": who.name,
        "client_address": who.client_address,
        "request_id": who.request_id,
        "workspace": workspace or workspace_of(package) or workspace_of(repository),
        "package": package,
        "repository": repository,
        "tag": tag,
        "digest": digest,
    }
    for column, limit in _LIMITS.items():
        values[column] = _text(values[column], limit)
    values["target"] = _text(target)
    values["data"] = (
        json.dumps(encodable(payload), sort_keys=True, separators=(",", ":")) if payload else None
    )
    await tx.execute(_INSERT, values)


async def prune(tx: Queries, *, before: float) -> int:
    """Delete the events older than `before` (the audit log's retention); how many."""
    return await tx.execute("DELETE FROM events WHERE at < :before", {"before": before})
