"""Reading the audit log: the events of a workspace, or of the whole site, newest first,
filtered and paged by id (a keyset: each page is one indexed range read).

Nothing here changes or deletes an event; only garbage collection prunes the oldest
(`outbox.prune`, after `audit_retention_days`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cargohold.metadata.db import Queries, Row
from cargohold.services.errors import Invalid


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    at: float
    action: str
    outcome: str
    actor_kind: str
    actor_id: str | None
    actor_name: str | None
    client_address: str | None
    request_id: str | None
    workspace: str | None
    package: str | None
    repository: str | None
    tag: str | None
    digest: str | None
    target: str | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Filters:
    """Which events to list: each given filter narrows the list.

    `actor` is a person's email, a token's name or an actor id; `action` an action
    (`tag.deleted`) or a family of them (`tag` or `tag.*`); `since` and `until` bound the
    time (unix seconds, `until` excluded)."""

    actor: str | None = None
    action: str | None = None
    package: str | None = None
    since: float | None = None
    until: float | None = None


_COLUMNS = (
    "id, at, action, outcome, actor_kind, actor_id, actor_name, client_address, request_id,"
    " workspace, package, repository, tag, digest, target, data"
)


def _event(row: Row) -> Event:
    try:
        data = json.loads(row["data"]) if row["data"] else {}
    except ValueError:
        data = {}
    return Event(
        id=int(row["id"]),
        at=float(row["at"]),
        action=row["action"],
        outcome=row["outcome"],
        actor_kind=row["actor_kind"],
        actor_id=row["actor_id"],
        actor_name=row["actor_name"],
        client_address=row["client_address"],
        request_id=row["request_id"],
        workspace=row["workspace"],
        package=row["package"],
        repository=row["repository"],
        tag=row["tag"],
        digest=row["digest"],
        target=row["target"],
        data=data if isinstance(data, dict) else {"value": data},
    )


def _conditions(filters: Filters) -> tuple[list[str], dict[str, Any]]:
    where: list[str] = []
    params: dict[str, Any] = {}
    if filters.actor:
        where.append("(actor_name = :actor OR actor_id = :actor)")
        params["actor"] = filters.actor.strip()
    if filters.action:
        family = filters.action.removesuffix(".*")
        if "." in family:
            where.append("action = :action")
            params["action"] = family
        else:
            where.append("substr(action, 1, :prefix_length) = :prefix")
            params["prefix"], params["prefix_length"] = f"{family}.", len(family) + 1
    if filters.package:
        where.append("package = :package")
        params["package"] = filters.package
    if filters.since is not None:
        where.append("at >= :since")
        params["since"] = filters.since
    if filters.until is not None:
        where.append("at < :until")
        params["until"] = filters.until
    return where, params


async def list_events(
    db: Queries,
    *,
    workspace: str | None,
    filters: Filters,
    limit: int,
    after: int | None = None,
) -> tuple[list[Event], int | None]:
    """The events of `workspace` (None: every event of the site) that match `filters`,
    newest first, after the event `after` (the `next` of the page before); returns the
    page and the `after` of the next one (None on the last page)."""
    where, params = _conditions(filters)
    if workspace is not None:
        where.append("workspace = :workspace")
        params["workspace"] = workspace
    if after is not None:
        where.append("id < :after")
        params["after"] = after
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM events{clause} ORDER BY id DESC LIMIT :n",
        {**params, "n": limit + 1},
    )
    events = [_event(row) for row in rows[:limit]]
    return events, events[-1].id if len(rows) > limit else None


_RELATIVE = re.compile(r"(\d{1,6})([mhdw])")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(text: str, *, now: float) -> float:
    """A bound of `since`/`until`, in unix seconds: an ISO 8601 date (`2026-03-01`, midnight
    UTC) or time (`2026-03-01T12:00:00Z`; without a zone, UTC), or an age such as `30m`,
    `24h`, `7d` or `2w` (that long before `now`)."""
    cleaned = text.strip()
    relative = _RELATIVE.fullmatch(cleaned)
    if relative:
        return now - int(relative[1]) * _UNITS[relative[2]]
    try:
        when = datetime.fromisoformat(cleaned.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Invalid(
            f"{text[:40]!r} is not a time: write a date (2026-03-01), a time"
            " (2026-03-01T12:00:00Z) or an age (30m, 24h, 7d, 2w)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
