"""Replication rules, as rows: which pushes (one package, or every package of a workspace)
go to which remote registry, under which name, with which credentials; creating, changing
and deleting one, each with its event. These operations trust their caller; the
permission-checked use cases are in services/registry/checked/replications.py.

The password is stored sealed and never shown again. The name mapping: package
`WS/NAME` is `PREFIX/NAME` at the remote (`NAME` when the prefix is empty).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cargohold.metadata.db import Queries, Row
from cargohold.oci.errors import NameInvalid
from cargohold.oci.names import MAX_NAME_LENGTH, validate_name
from cargohold.services import outbound, sealing
from cargohold.services.accounts.keys import load_signing_key
from cargohold.services.context import Context
from cargohold.services.errors import Invalid, NotFound
from cargohold.services.events import outbox

PASSWORD_PURPOSE = "replication password"
MAX_URL = 2000
MAX_USERNAME = 320
MAX_PASSWORD = 4096
_PATH = re.compile(r"/*")


def sealing_key(ctx: Context) -> bytes:
    """The key that seals remotes' passwords: from `webhook_secret_key` (the registry's key
    for secrets at rest), else from the signing key, which every node shares."""
    material = ctx.settings.webhook_secret_key
    if material:
        return sealing.derive_key(material.encode(), PASSWORD_PURPOSE)
    key = ctx.signing_key or load_signing_key(ctx.settings)
    return sealing.key_from_signing_key(key, PASSWORD_PURPOSE)


def seal_password(ctx: Context, password: str) -> str:
    return sealing.seal(sealing_key(ctx), password, PASSWORD_PURPOSE)


@dataclass(frozen=True, slots=True)
class Replication:
    id: int
    workspace_id: int
    workspace: str
    package: str  # a full package name; '' for every package of the workspace
    url: str
    username: str | None
    has_password: bool
    prefix: str
    active: bool
    since_event: int
    retry_at: float | None
    last_success_at: float | None
    last_error: str | None
    last_error_at: float | None
    created_at: float
    created_by: str | None
    updated_at: float

    def covers(self, package: str) -> bool:
        """Whether a push to `package` is this rule's."""
        if self.package:
            return package == self.package
        return package.startswith(f"{self.workspace}/")

    def remote_name(self, package: str) -> str:
        """The repository at the remote that `package` is copied to."""
        rest = package.removeprefix(f"{self.workspace}/")
        return f"{self.prefix}/{rest}" if self.prefix else rest


# --------------------------------------------------------------------------- what is typed


def check_url(url: str) -> str:
    """The remote registry: `https://HOST[:PORT]` (or `http://` to a loopback address), with
    no path, query or user information; a trailing slash is dropped."""
    url = url.strip()
    if len(url) > MAX_URL:
        raise Invalid(f"the URL is longer than {MAX_URL} characters")
    try:
        target = outbound.parse_target(url)
    except outbound.Refused as exc:
        raise Invalid(f"remote URL: {exc.message}") from None
    parsed = target.url
    if parsed.userinfo:
        raise Invalid("remote URL: give the credentials as username and password, not in the URL")
    if parsed.query or not _PATH.fullmatch(parsed.path or ""):
        raise Invalid(
            "remote URL: give the registry's address only (https://HOST[:PORT]); where the"
            " images go at the remote is the prefix"
        )
    return url.rstrip("/")


def parse_prefix(text: str | None) -> str:
    """The remote repository prefix: a repository name (`mirror`, `team/images`) or empty."""
    prefix = (text or "").strip().strip("/")
    if not prefix:
        return ""
    try:
        validate_name(prefix)
    except NameInvalid:
        raise Invalid(
            f"prefix {prefix[:100]!r}: use lowercase letters, digits and separators (. _ -),"
            " in components joined by /"
        ) from None
    if len(prefix) > MAX_NAME_LENGTH - 2:
        raise Invalid(f"the prefix is longer than {MAX_NAME_LENGTH - 2} characters")
    return prefix


def parse_package(workspace: str, text: str | None) -> str:
    """One package of the workspace (`web/api` or `acme/web/api`); empty: every package."""
    name = (text or "").strip().strip("/")
    if not name or name == "*":
        return ""
    if not name.startswith(f"{workspace}/"):
        name = f"{workspace}/{name}"
    try:
        return validate_name(name)
    except NameInvalid:
        raise Invalid(f"{name[:100]!r} is not a package name of workspace {workspace}") from None


def parse_credentials(username: str | None, password: str | None) -> tuple[str | None, str | None]:
    """Both or neither; anonymous when neither."""
    user = (username or "").strip() or None
    secret = password if password else None
    if (user is None) != (secret is None):
        raise Invalid("give both a username and a password for the remote, or neither")
    if user is not None and (len(user) > MAX_USERNAME or ":" in user or not _printable(user)):
        raise Invalid(
            f"the username must be at most {MAX_USERNAME} printable characters, without ':'"
        )
    if secret is not None and (len(secret) > MAX_PASSWORD or not _printable(secret)):
        raise Invalid(f"the password must be at most {MAX_PASSWORD} printable characters")
    return user, secret


def _printable(text: str) -> bool:
    """Text that can be sent in a header: printable, and UTF-8 (no lone surrogates)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return text.isprintable()


# --------------------------------------------------------------------------- rows

_REPLICATION = """
SELECT r.id, r.workspace_id, ws.slug AS workspace, r.package, r.url, r.username,
  r.password, r.prefix, r.active, r.since_event, r.retry_at, r.last_success_at,
  r.last_error, r.last_error_at, r.created_at, r.created_by, r.updated_at
FROM replications r JOIN workspaces ws ON ws.id = r.workspace_id
"""


def replication_of(row: Row) -> Replication:
    return Replication(
        id=int(row["id"]),
        workspace_id=int(row["workspace_id"]),
        workspace=row["workspace"],
        package=row["package"],
        url=row["url"],
        username=row["username"],
        has_password=row["password"] is not None,
        prefix=row["prefix"],
        active=bool(row["active"]),
        since_event=int(row["since_event"]),
        retry_at=row["retry_at"],
        last_success_at=row["last_success_at"],
        last_error=row["last_error"],
        last_error_at=row["last_error_at"],
        created_at=float(row["created_at"]),
        created_by=row["created_by"],
        updated_at=float(row["updated_at"]),
    )


async def list_replications(db: Queries, *, workspace_id: int) -> list[Replication]:
    rows = await db.fetchall(
        f"{_REPLICATION} WHERE r.workspace_id = :w ORDER BY r.id", {"w": workspace_id}
    )
    return [replication_of(row) for row in rows]


async def active_replications(db: Queries) -> list[Replication]:
    rows = await db.fetchall(f"{_REPLICATION} WHERE r.active ORDER BY r.id")
    return [replication_of(row) for row in rows]


async def get_replication(db: Queries, *, workspace_id: int, replication_id: int) -> Replication:
    row = await db.fetchone(
        f"{_REPLICATION} WHERE r.id = :id AND r.workspace_id = :w",
        {"id": replication_id, "w": workspace_id},
    )
    if row is None:
        raise NotFound(f"no replication {replication_id}")
    return replication_of(row)


async def sealed_password(db: Queries, replication_id: int) -> str | None:
    row = await db.fetchone(
        "SELECT password FROM replications WHERE id = :id", {"id": replication_id}
    )
    return None if row is None else row["password"]


def described(rule: Replication) -> dict[str, Any]:
    """What an event says about a rule: never its password."""
    return {
        "id": rule.id,
        "package": rule.package or None,
        "url": outbound.redact(rule.url),
        "username": rule.username,
        "prefix": rule.prefix,
        "active": rule.active,
    }


async def _record(tx: Queries, action: str, rule: Replication, now: float) -> None:
    await outbox.record(
        tx,
        action,
        workspace=rule.workspace,
        package=rule.package or None,
        target=f"replication {rule.id} of {rule.workspace}",
        data=described(rule),
        at=now,
    )


async def create_replication(
    tx: Queries,
    *,
    workspace_id: int,
    package: str,
    url: str,
    username: str | None,
    sealed: str | None,
    prefix: str,
    active: bool,
    created_by: str | None,
    now: float,
) -> Replication:
    """A new rule and its `replication.created` event; pushes after it are its."""
    row = await tx.fetchone(
        "INSERT INTO replications (workspace_id, package, url, username, password, prefix,"
        " active, since_event, created_at, created_by, updated_at)"
        " VALUES (:w, :package, :url, :username, :password, :prefix, :active,"
        " (SELECT COALESCE(MAX(id), 0) FROM events), :now, :by, :now) RETURNING id",
        {
            "w": workspace_id,
            "package": package,
            "url": url,
            "username": username,
            "password": sealed,
            "prefix": prefix,
            "active": active,
            "now": now,
            "by": created_by,
        },
    )
    assert row is not None
    rule = await get_replication(tx, workspace_id=workspace_id, replication_id=int(row["id"]))
    await _record(tx, "replication.created", rule, now)
    # The jobs are made from events after the cursor: a cursor that a round with no rule
    # moved past this rule's start goes back to it (queuing twice is harmless).
    await tx.execute(
        "UPDATE replication_cursors SET position = :e WHERE position > :e",
        {"e": rule.since_event},
    )
    return rule


async def update_replication(
    tx: Queries,
    rule: Replication,
    *,
    now: float,
    url: str | None = None,
    credentials: tuple[str | None, str | None] | None = None,
    prefix: str | None = None,
    active: bool | None = None,
) -> Replication:
    """Change what is given (`credentials`: username and sealed password, both None for
    anonymous). Turning a rule on, or changing where it goes, ends its back-off."""
    changes: dict[str, Any] = {}
    if url is not None:
        changes["url"] = url
    if credentials is not None:
        changes["username"], changes["password"] = credentials
    if prefix is not None:
        changes["prefix"] = prefix
    if active is not None:
        changes["active"] = active
    if active and not rule.active:
        # Turned on again: the pushes from now on are its, not those made while it was off.
        row = await tx.fetchone("SELECT COALESCE(MAX(id), 0) AS top FROM events")
        changes["since_event"] = int(row["top"]) if row is not None else rule.since_event
    if changes:
        changes["retry_at"] = None
        assigned = ", ".join(f"{column} = :{column}" for column in changes)
        await tx.execute(
            f"UPDATE replications SET {assigned}, updated_at = :now WHERE id = :id",
            {**changes, "now": now, "id": rule.id},
        )
        if url is not None or credentials is not None or active:
            # Jobs waiting for their next attempt are due at once.
            await tx.execute(
                "UPDATE replication_jobs SET next_attempt_at = :now"
                " WHERE replication_id = :id AND state = 'pending'",
                {"now": now, "id": rule.id},
            )
        rule = await get_replication(tx, workspace_id=rule.workspace_id, replication_id=rule.id)
        await _record(tx, "replication.changed", rule, now)
    return rule


async def delete_replication(tx: Queries, rule: Replication, *, now: float) -> None:
    """The rule and its jobs go; nothing more is copied (what was copied stays)."""
    await tx.execute("DELETE FROM replication_jobs WHERE replication_id = :id", {"id": rule.id})
    await tx.execute("DELETE FROM replications WHERE id = :id", {"id": rule.id})
    await _record(tx, "replication.deleted", rule, now)
