"""Mirrors as rows: an upstream registry that a workspace caches as pull-through packages
`WORKSPACE/PREFIX/NAME` (docs/mirror.md). These operations trust their caller; the
permission-checked use cases are in services/registry/checked/mirrors.py, the pull-through
itself in services/registry/pull_through.py.

A mirror's packages link to one repository of its workspace (by default `PREFIX`, made in
the project `MIRRORS` when it does not exist): they are read like any package of that
repository, by whoever holds a role on it (owners of the workspace, grants on the repository
or its project, anyone when it is public). Nobody pushes to them.

The upstream's password is sealed at rest (services/sealing.py) under a key derived from the
registry's signing key, and never shown again. Creating, changing and deleting a mirror
record `mirror.created`, `.changed` and `.deleted`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from cargohold.config import Settings
from cargohold.metadata.db import IntegrityError, Queries, Row
from cargohold.oci.errors import Denied
from cargohold.services import outbound, sealing
from cargohold.services.accounts.directory import (
    Repository,
    create_project,
    create_repository,
    find_repository,
)
from cargohold.services.accounts.keys import load_signing_key
from cargohold.services.context import Context
from cargohold.services.errors import Conflict, Invalid, NotFound
from cargohold.services.events import outbox
from cargohold.services.remote.client import Credentials, Remote

PASSWORD_PURPOSE = "mirror-password"
PROJECT = "MIRRORS"  # where a mirror's repository is made when none is named
PREFIX = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
MAX_PREFIX = 64
MAX_URL = 2048
MAX_TTL = 30 * 86400

_SELECT = """
SELECT m.id, w.slug AS workspace, m.prefix, m.upstream, m.username, m.password,
  m.repository_id, r.slug AS repository, m.tag_ttl, m.created_at, m.created_by, m.updated_at
FROM mirrors m JOIN workspaces w ON w.id = m.workspace_id
JOIN repositories r ON r.id = m.repository_id
"""


@dataclass(frozen=True, slots=True)
class Mirror:
    id: int
    workspace: str
    prefix: str
    upstream: str
    username: str | None
    has_password: bool
    repository_id: int
    repository: str  # WORKSPACE/REPO
    tag_ttl: int
    created_at: float
    created_by: str | None
    updated_at: float

    @property
    def name(self) -> str:
        """Where its packages appear: `WORKSPACE/PREFIX` (then `/NAME`)."""
        return f"{self.workspace}/{self.prefix}"


@dataclass(frozen=True, slots=True)
class Sealed:
    """A mirror as the pull-through needs it: the row and the sealed password."""

    mirror: Mirror
    password: str | None


def _mirror(row: Row) -> Mirror:
    return Mirror(
        id=int(row["id"]),
        workspace=row["workspace"],
        prefix=row["prefix"],
        upstream=row["upstream"],
        username=row["username"],
        has_password=row["password"] is not None,
        repository_id=int(row["repository_id"]),
        repository=f"{row['workspace']}/{row['repository']}",
        tag_ttl=int(row["tag_ttl"]),
        created_at=float(row["created_at"]),
        created_by=row["created_by"],
        updated_at=float(row["updated_at"]),
    )


def upstream_name(mirror: Mirror, name: str) -> str:
    """The upstream's name for package `name` (`acme/hub/busybox` → `library/busybox`):
    one-segment names get `library/`, as Docker Hub keeps its official images there."""
    rest = name[len(mirror.name) + 1 :]
    return rest if "/" in rest else f"library/{rest}"


def split_name(name: str) -> tuple[str, str, str] | None:
    """(workspace, prefix, rest) of a name that could be a mirror's package."""
    parts = name.split("/", 2)
    if len(parts) < 3 or not parts[2]:
        return None
    return parts[0], parts[1], parts[2]


async def find_for_name(db: Queries, name: str) -> Sealed | None:
    """The mirror whose packages `name` would be one of, if any."""
    parts = split_name(name)
    if parts is None:
        return None
    row = await db.fetchone(
        f"{_SELECT} WHERE w.slug = :w AND m.prefix = :p", {"w": parts[0], "p": parts[1]}
    )
    return None if row is None else Sealed(_mirror(row), row["password"])


async def refuse_push(db: Queries, name: str) -> None:
    """A push to a mirror's package is 403 DENIED: its content comes from the upstream."""
    found = await find_for_name(db, name)
    if found is not None:
        raise Denied(
            f"{name} is mirrored from {outbound.redact(found.mirror.upstream)} and read-only:"
            f" push to the upstream, or to a package outside {found.mirror.name}/",
            detail={"name": name, "mirror": found.mirror.name},
        )


async def get_mirror(db: Queries, *, workspace: str, prefix: str) -> Sealed:
    row = await db.fetchone(
        f"{_SELECT} WHERE w.slug = :w AND m.prefix = :p", {"w": workspace, "p": prefix}
    )
    if row is None:
        raise NotFound(f"no mirror {workspace[:64]}/{prefix[:64]}")
    return Sealed(_mirror(row), row["password"])


async def list_mirrors(db: Queries, *, workspace: str) -> list[Mirror]:
    rows = await db.fetchall(f"{_SELECT} WHERE w.slug = :w ORDER BY m.prefix", {"w": workspace})
    return [_mirror(row) for row in rows]


def check_prefix(prefix: str) -> str:
    if len(prefix) > MAX_PREFIX or not PREFIX.fullmatch(prefix):
        raise Invalid(
            f"invalid mirror prefix {prefix[:80]!r}: one path component of lower-case letters,"
            " digits and . _ - (e.g. hub)"
        )
    return prefix


def check_upstream(url: str, settings: Settings) -> str:
    """The upstream's base URL, refused when it is not a plain `https://HOST[:PORT]` (or
    `http://` to a loopback address, or anywhere with `mirror_allow_http`)."""
    text = url.strip().rstrip("/")
    try:
        target = outbound.parse_target(text)
    except outbound.Refused as exc:
        raise Invalid(f"upstream {outbound.redact(text)}: {exc.message}") from None
    parsed = target.url
    if parsed.userinfo or parsed.query or parsed.path not in ("", "/") or len(text) > MAX_URL:
        raise Invalid(
            "the upstream is the registry's base URL, such as https://registry-1.docker.io:"
            " no path, query or user information (give credentials apart)"
        )
    if target.scheme == "http" and not settings.mirror_allow_http and not _loopback(target.host):
        raise Invalid(
            "plain http:// upstreams are allowed on loopback addresses only; use https://"
            " (or set mirror_allow_http)"
        )
    return text


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def policy(settings: Settings) -> outbound.Policy:
    """What requests to upstreams may reach and take: manifests, tags and tokens."""
    return outbound.Policy(
        allowed_networks=outbound.parse_networks(settings.mirror_allowed_networks),
        allow_http=settings.mirror_allow_http,
        connect_timeout=min(10.0, settings.mirror_timeout),
        read_timeout=settings.mirror_timeout,
        total_timeout=settings.mirror_timeout,
        max_response_bytes=settings.max_manifest_size,
    )


def blob_policy(settings: Settings) -> outbound.Policy:
    """The same for a blob's bytes: larger and longer."""
    base = policy(settings)
    return outbound.Policy(
        allowed_networks=base.allowed_networks,
        allow_http=base.allow_http,
        connect_timeout=base.connect_timeout,
        read_timeout=settings.mirror_timeout,
        total_timeout=settings.mirror_blob_timeout,
        max_response_bytes=settings.max_blob_size,
    )


async def check_reachable(settings: Settings, url: str) -> None:
    """The upstream's host must pass the forgery guard (call outside any transaction)."""
    try:
        await outbound.check(url, policy(settings))
    except outbound.OutboundError as exc:
        raise Invalid(f"upstream {outbound.redact(url)}: {exc.message}") from None


def sealing_key(ctx: Context) -> bytes:
    key = ctx.signing_key or load_signing_key(ctx.settings)
    return sealing.key_from_signing_key(key, PASSWORD_PURPOSE)


def seal_password(ctx: Context, password: str) -> str:
    return sealing.seal(sealing_key(ctx), password, PASSWORD_PURPOSE)


def remote_of(ctx: Context, found: Sealed) -> Remote:
    """A client of the mirror's upstream, with its credentials opened."""
    mirror = found.mirror
    credentials = None
    if mirror.username is not None and found.password is not None:
        try:
            password = sealing.unseal(sealing_key(ctx), found.password, PASSWORD_PURPOSE)
        except sealing.Unsealable:
            raise Invalid(
                f"the password of mirror {mirror.name} does not open with this registry's key;"
                " set it again"
            ) from None
        credentials = Credentials(mirror.username, password)
    return Remote(mirror.upstream, credentials=credentials, policy=policy(ctx.settings))


async def mirror_repository(
    db: Queries, *, workspace: str, slug: str | None, prefix: str, now: float
) -> Repository:
    """The repository a new mirror's packages link to: the one named, else `PREFIX`, made
    (private, in project MIRRORS) when it does not exist."""
    if slug is not None:
        return await find_repository(db, f"{workspace}/{slug}")
    try:
        return await find_repository(db, f"{workspace}/{prefix}")
    except NotFound:
        pass
    project = await db.fetchone(
        "SELECT p.id FROM projects p JOIN workspaces w ON w.id = p.workspace_id"
        " WHERE w.slug = :w AND p.key = :k",
        {"w": workspace, "k": PROJECT},
    )
    if project is None:
        await create_project(db, workspace=workspace, key=PROJECT, name="Mirrors", now=now)
    return await create_repository(
        db, full_name=f"{workspace}/{prefix}", project_key=PROJECT, now=now
    )


async def create_mirror(
    db: Queries,
    *,
    workspace_id: int,
    workspace: str,
    prefix: str,
    upstream: str,
    username: str | None,
    sealed_password: str | None,
    repository: Repository,
    tag_ttl: int,
    created_by: str | None,
    now: float,
) -> Mirror:
    try:
        await db.execute(
            "INSERT INTO mirrors (workspace_id, prefix, upstream, username, password,"
            " repository_id, tag_ttl, created_at, created_by, updated_at) VALUES (:w, :p, :u,"
            " :user, :pw, :r, :ttl, :now, :by, :now)",
            {
                "w": workspace_id,
                "p": prefix,
                "u": upstream,
                "user": username,
                "pw": sealed_password,
                "r": repository.id,
                "ttl": tag_ttl,
                "now": now,
                "by": created_by,
            },
        )
    except IntegrityError:
        raise Conflict(f"mirror {workspace}/{prefix} already exists") from None
    found = (await get_mirror(db, workspace=workspace, prefix=prefix)).mirror
    await _record(db, "mirror.created", found, now)
    return found


async def update_mirror(
    db: Queries, *, mirror: Mirror, changes: dict[str, Any], now: float
) -> Mirror:
    """Change the columns given (upstream, username, password (sealed), tag_ttl)."""
    allowed = {"upstream", "username", "password", "tag_ttl"}
    assert set(changes) <= allowed
    if changes:
        sets = ", ".join(f"{column} = :{column}" for column in sorted(changes))
        await db.execute(
            f"UPDATE mirrors SET {sets}, updated_at = :now WHERE id = :id",
            {**changes, "now": now, "id": mirror.id},
        )
    found = (await get_mirror(db, workspace=mirror.workspace, prefix=mirror.prefix)).mirror
    await _record(db, "mirror.changed", found, now, changed=sorted(changes))
    return found


async def delete_mirror(db: Queries, *, mirror: Mirror, now: float) -> None:
    """Delete the mirror; what it cached stays, as ordinary packages of its repository, until
    deleted or collected (docs/mirror.md)."""
    await db.execute("DELETE FROM mirrors WHERE id = :id", {"id": mirror.id})
    await _record(db, "mirror.deleted", mirror, now)


async def _record(
    db: Queries, action: str, mirror: Mirror, now: float, changed: list[str] | None = None
) -> None:
    data: dict[str, Any] = {
        "prefix": mirror.prefix,
        "upstream": outbound.redact(mirror.upstream),
        "repository": mirror.repository,
        "tag_ttl": mirror.tag_ttl,
        "credentials": mirror.username is not None,
    }
    if changed is not None:
        data["changed"] = changed
    await outbox.record(
        db,
        action,
        workspace=mirror.workspace,
        repository=mirror.repository,
        target=f"mirror {mirror.name} of {outbound.redact(mirror.upstream)}",
        data=data,
        at=now,
    )
