"""Webhook endpoints, as rows: what an endpoint wants (event types, a package glob, a
format), creating, changing and deleting one. These operations trust their caller; the
permission-checked use cases are in services/registry/checked/webhooks.py.

Every change records its event (`webhook.created`, `.changed`, `.deleted`, which are never
delivered themselves); creating an endpoint also queues a `ping` to it, under the id of its
`webhook.created` event.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from cargohold.metadata.db import Queries, Row
from cargohold.services import outbound
from cargohold.services.errors import Invalid, NotFound
from cargohold.services.events import audit, outbox
from cargohold.services.events.audit import Event
from cargohold.services.events.webhooks import deliveries, formats
from cargohold.services.events.webhooks.formats import Occurrence, Source

ALL = "*"
# What a webhook may subscribe to: what happens to a package, and (for endpoints on every
# package of the workspace) to the workspace's people and repositories.
PACKAGE_EVENTS = (
    "manifest.pushed",
    "manifest.pulled",
    "manifest.deleted",
    "tag.moved",
    "tag.deleted",
    "package.created",
    "package.moved",
    "package.deleted",
    "blob.deleted",
    "retention.deleted",
    "gc.deleted",
)
WORKSPACE_EVENTS = (
    "workspace.changed",
    "member.added",
    "member.changed",
    "member.removed",
    "project.created",
    "project.renamed",
    "repository.created",
    "repository.renamed",
    "repository.visibility_changed",
    "grant.changed",
    "grant.removed",
    "token.created",
    "token.revoked",
)
EVENT_TYPES = PACKAGE_EVENTS + WORKSPACE_EVENTS
_FAMILIES = {name.partition(".")[0] for name in EVENT_TYPES}

SECRET_PURPOSE = "webhook secret"
MAX_URL = 2000
MIN_SECRET, MAX_SECRET = 16, 256
_PACKAGE_GLOB = re.compile(r"[a-z0-9._/*?-]{1,255}")
_SECRET = re.compile(r"[!-~]+")  # printable ASCII, no spaces


@dataclass(frozen=True, slots=True)
class Webhook:
    id: int
    workspace_id: int
    workspace: str
    url: str
    events: tuple[str, ...]
    packages: str  # a glob of full package names; '' for every package of the workspace
    format: str
    active: bool
    disabled_reason: str | None
    failures: int
    retry_at: float | None
    since_event: int
    created_at: float
    created_by: str | None
    updated_at: float

    @property
    def one_package(self) -> str | None:
        """The package this endpoint is limited to, when its glob names exactly one."""
        return self.packages if is_exact(self.packages) else None

    def wants(self, event: Event) -> bool:
        """Whether this endpoint is sent `event`: its workspace's, after the endpoint was
        made, done (not refused), of a type and package the endpoint asked for, and one its
        format can tell."""
        if event.id <= self.since_event or event.outcome != outbox.OK:
            return False
        if event.workspace != self.workspace or not wanted(self.events, event.action):
            return False
        if self.packages and not (event.package and package_matches(self.packages, event.package)):
            return False
        return self.format != formats.DISTRIBUTION or event.action in formats.DISTRIBUTION_ACTIONS


# --------------------------------------------------------------------------- what is wanted


def parse_events(items: Iterable[str]) -> tuple[str, ...]:
    """Event types: `*` (every one), a family (`tag.*`) or a type (`tag.deleted`)."""
    found: list[str] = []
    for item in items:
        name = item.strip()
        family = name.removesuffix(".*")
        if not (
            name == ALL or name in EVENT_TYPES or (name.endswith(".*") and family in _FAMILIES)
        ):
            raise Invalid(
                f"unknown event type {name[:80]!r}; use * or some of: {', '.join(EVENT_TYPES)}"
            )
        if name not in found:
            found.append(name)
    if not found:
        raise Invalid("name at least one event type (* for every one)")
    return (ALL,) if ALL in found else tuple(found)


def wanted(events: Sequence[str], action: str) -> bool:
    if action not in EVENT_TYPES:
        return False
    family = action.partition(".")[0]
    return ALL in events or action in events or f"{family}.*" in events


def is_exact(pattern: str) -> bool:
    return bool(pattern) and not any(c in pattern for c in "*?")


def parse_packages(workspace: str, text: str | None) -> str:
    """A glob of package names (`*` any run of characters, `/` too; `?` one), of the
    workspace: `web*` and `acme/web*` both mean `acme/web*` in workspace acme. Empty: every
    package of the workspace."""
    pattern = (text or "").strip()
    if not pattern or pattern == ALL:
        return ""
    if not pattern.startswith(f"{workspace}/"):
        pattern = f"{workspace}/{pattern}"
    if not _PACKAGE_GLOB.fullmatch(pattern) or "//" in pattern or pattern.endswith("/"):
        raise Invalid(
            f"package filter {pattern[:100]!r}: use a package name of workspace {workspace},"
            " with * and ? as wildcards"
        )
    return pattern


def package_matches(pattern: str, name: str) -> bool:
    return fnmatchcase(name, pattern)


def parse_format(text: str | None) -> str:
    form = (text or formats.CARGOHOLD).strip()
    if form not in formats.FORMATS:
        raise Invalid(f"format must be one of {', '.join(formats.FORMATS)}")
    return form


def check_url(url: str) -> str:
    """A URL a webhook may have, as typed (where it leads is checked by resolving it)."""
    url = url.strip()
    if len(url) > MAX_URL:
        raise Invalid(f"the URL is longer than {MAX_URL} characters")
    try:
        outbound.parse_target(url)
    except outbound.Refused as exc:
        raise Invalid(f"webhook URL: {exc.message}") from None
    return url


def parse_secret(text: str | None) -> str:
    """The secret given, or a new random one."""
    if text is None or not text.strip():
        return "whsec_" + secrets.token_urlsafe(32)
    secret = text.strip()
    if not MIN_SECRET <= len(secret) <= MAX_SECRET or not _SECRET.fullmatch(secret):
        raise Invalid(
            f"the secret must be {MIN_SECRET} to {MAX_SECRET} printable characters without"
            " spaces (or leave it out to have one made)"
        )
    return secret


# --------------------------------------------------------------------------- endpoints

_WEBHOOK = """
SELECT w.id, w.workspace_id, ws.slug AS workspace, w.url, w.events, w.packages, w.format,
  w.active, w.disabled_reason, w.failures, w.retry_at, w.since_event, w.created_at,
  w.created_by, w.updated_at
FROM webhooks w JOIN workspaces ws ON ws.id = w.workspace_id
"""


def webhook_of(row: Row) -> Webhook:
    return Webhook(
        id=int(row["id"]),
        workspace_id=int(row["workspace_id"]),
        workspace=row["workspace"],
        url=row["url"],
        events=tuple(e for e in str(row["events"]).split(",") if e),
        packages=row["packages"],
        format=row["format"],
        active=bool(row["active"]),
        disabled_reason=row["disabled_reason"],
        failures=int(row["failures"]),
        retry_at=row["retry_at"],
        since_event=int(row["since_event"]),
        created_at=float(row["created_at"]),
        created_by=row["created_by"],
        updated_at=float(row["updated_at"]),
    )


async def list_webhooks(db: Queries, *, workspace_id: int) -> list[Webhook]:
    rows = await db.fetchall(
        f"{_WEBHOOK} WHERE w.workspace_id = :w ORDER BY w.id", {"w": workspace_id}
    )
    return [webhook_of(row) for row in rows]


async def active_webhooks(db: Queries) -> list[Webhook]:
    rows = await db.fetchall(f"{_WEBHOOK} WHERE w.active ORDER BY w.id")
    return [webhook_of(row) for row in rows]


async def get_webhook(db: Queries, *, workspace_id: int, webhook_id: int) -> Webhook:
    row = await db.fetchone(
        f"{_WEBHOOK} WHERE w.id = :id AND w.workspace_id = :w",
        {"id": webhook_id, "w": workspace_id},
    )
    if row is None:
        raise NotFound(f"no webhook {webhook_id}")
    return webhook_of(row)


def _described(webhook: Webhook) -> dict[str, Any]:
    """What an event or a ping says about an endpoint: never its secret, nor the secrets
    its URL may carry."""
    return {
        "id": webhook.id,
        "url": outbound.redact(webhook.url),
        "events": list(webhook.events),
        "packages": webhook.packages or None,
        "format": webhook.format,
        "active": webhook.active,
    }


async def create_webhook(
    tx: Queries,
    *,
    workspace_id: int,
    url: str,
    sealed_secret: str,
    events: Sequence[str],
    packages: str,
    form: str,
    active: bool,
    created_by: str | None,
    source: Source,
    now: float,
) -> Webhook:
    """A new endpoint, its `webhook.created` event, and a ping to it (sent by delivery)."""
    row = await tx.fetchone(
        "INSERT INTO webhooks (workspace_id, url, secret, events, packages, format, active,"
        " failures, since_event, created_at, created_by, updated_at)"
        " VALUES (:w, :url, :secret, :events, :packages, :format, :active, 0,"
        " (SELECT COALESCE(MAX(id), 0) FROM events), :now, :by, :now) RETURNING id",
        {
            "w": workspace_id,
            "url": url,
            "secret": sealed_secret,
            "events": ",".join(events),
            "packages": packages,
            "format": form,
            "active": active,
            "now": now,
            "by": created_by,
        },
    )
    assert row is not None
    webhook = await get_webhook(tx, workspace_id=workspace_id, webhook_id=int(row["id"]))
    event = await _record(tx, "webhook.created", webhook, now)
    # Only events after this one are the endpoint's; fan-out reads on from here (moving its
    # cursor back, if a round that saw no endpoint has just moved it on, is harmless).
    await tx.execute(
        "UPDATE webhooks SET since_event = :e WHERE id = :id", {"e": event.id, "id": webhook.id}
    )
    await tx.execute(
        "UPDATE webhook_cursors SET position = :e WHERE position > :e", {"e": event.id}
    )
    webhook = await get_webhook(tx, workspace_id=workspace_id, webhook_id=webhook.id)
    await queue_ping(tx, webhook, event, source, now)
    return webhook


async def _record(tx: Queries, action: str, webhook: Webhook, now: float) -> Event:
    """Record a change to an endpoint; the event row (the newest of its kind for this
    endpoint: in this transaction, nobody else can have recorded a later one)."""
    target = f"webhook {webhook.id} of {webhook.workspace}"
    await outbox.record(
        tx, action, workspace=webhook.workspace, target=target, data=_described(webhook), at=now
    )
    row = await tx.fetchone(
        f"SELECT {audit._COLUMNS} FROM events"
        " WHERE action = :action AND target = :target ORDER BY id DESC LIMIT 1",
        {"action": action, "target": target},
    )
    assert row is not None
    return audit._event(row)  # the audit log's reading of a row


async def queue_ping(
    tx: Queries, webhook: Webhook, event: Event, source: Source, now: float
) -> None:
    occurrence = Occurrence(event, webhook=_described(webhook))
    body = formats.render(webhook.format, occurrence, source)
    assert body is not None
    await deliveries.insert_delivery(
        tx,
        webhook_id=webhook.id,
        content_type=formats.CONTENT_TYPES[webhook.format],
        event_id=event.id,
        action=formats.PING,
        body=body,
        now=now,
    )


async def update_webhook(
    tx: Queries,
    webhook: Webhook,
    *,
    now: float,
    url: str | None = None,
    sealed_secret: str | None = None,
    events: Sequence[str] | None = None,
    packages: str | None = None,
    form: str | None = None,
    active: bool | None = None,
) -> Webhook:
    """Change what is given. Turning an endpoint on clears why it was turned off, its
    failure count and its back-off."""
    changes: dict[str, Any] = {}
    if url is not None:
        changes["url"] = url
    if sealed_secret is not None:
        changes["secret"] = sealed_secret
    if events is not None:
        changes["events"] = ",".join(events)
    if packages is not None:
        changes["packages"] = packages
    if form is not None:
        changes["format"] = form
    if active is not None:
        changes["active"] = active
    if active:
        changes.update(disabled_reason=None, failures=0, retry_at=None)
    if changes:
        assigned = ", ".join(f"{column} = :{column}" for column in changes)
        await tx.execute(
            f"UPDATE webhooks SET {assigned}, updated_at = :now WHERE id = :id",
            {**changes, "now": now, "id": webhook.id},
        )
        webhook = await get_webhook(tx, workspace_id=webhook.workspace_id, webhook_id=webhook.id)
        await _record(tx, "webhook.changed", webhook, now)
    return webhook


async def delete_webhook(tx: Queries, webhook: Webhook, *, now: float) -> None:
    """The endpoint and its delivery history go; nothing more is sent to it."""
    await tx.execute("DELETE FROM webhook_deliveries WHERE webhook_id = :id", {"id": webhook.id})
    await tx.execute("DELETE FROM webhooks WHERE id = :id", {"id": webhook.id})
    await _record(tx, "webhook.deleted", webhook, now)
