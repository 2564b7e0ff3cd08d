"""Storage usage of packages, repositories and workspaces, and workspace quotas.

The usage of a set of packages is the size of every distinct blob linked to any of
them (a layer shared by several images counts once) plus the size of their
manifests. A package's workspace is the first component of its name, so a
workspace's packages are the names in the range [`slug/`, `slug0`) (`0` follows
`/`), which the unique index on names reads directly. Bytes count until garbage
collection unlinks them.

A quota (`workspaces.quota_bytes`) caps what blob uploads and mounts may add to a
workspace; manifests are not checked. The check reads the workspace's row first
and pays for the usage query only when the workspace has a quota.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from cargohold.authz.roles import Role
from cargohold.metadata.db import Params, Queries
from cargohold.oci.errors import Denied
from cargohold.services.access import (
    CAN_READ,
    Principal,
    reader_params,
    require_package,
    require_person,
    require_repository,
    require_workspace,
)
from cargohold.services.errors import Forbidden, Invalid, NotFound
from cargohold.services.packages import scope_conditions

# Sizes: a number with an optional unit; kB, MB, GB, TB are powers of 1000 (K, M, G,
# T too), KiB, MiB, GiB, TiB powers of 1024 (Ki, Mi, Gi, Ti too); case does not matter.
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")
_FACTORS = {"": 1, "b": 1}
for _power, _letter in enumerate("kmgtp", start=1):
    _FACTORS[_letter] = _FACTORS[f"{_letter}b"] = 1000**_power
    _FACTORS[f"{_letter}i"] = _FACTORS[f"{_letter}ib"] = 1024**_power
MAX_QUOTA = 2**63 - 1
_BINARY = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def parse_size(text: str) -> int | None:
    """Bytes from `10GiB`, `500 MB`, `1.5TiB` or `4096`; None for `none` (no quota)."""
    cleaned = text.strip().lower()
    if cleaned == "none":
        return None
    match = _SIZE.fullmatch(cleaned)
    if match is None or match[2] not in _FACTORS:
        raise Invalid(
            f"{text[:40]!r} is not a size: write a number with a unit such as 500MB or"
            " 10GiB (kB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB of 1024), or none"
        )
    try:
        size = int(Decimal(match[1]) * _FACTORS[match[2]])
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise Invalid(f"{text[:40]!r} is not a size") from None
    if size > MAX_QUOTA:
        raise Invalid(f"{text[:40]!r} is larger than any store")
    return size


def format_bytes(size: int) -> str:
    """A size in binary units for messages: `512 B`, `300.0 MiB`, `10.2 GiB`."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _BINARY:
        value /= 1024
        if value < 1024 or unit == _BINARY[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def percent(used: int, quota: int) -> float:
    """How much of a quota is used, in percent (a zero quota is full)."""
    return 100.0 if quota <= 0 else round(used * 100 / quota, 1)


def workspace_of(name: str) -> str | None:
    """The workspace a package belongs to: the first component of a `WORKSPACE/NAME`."""
    slug, sep, _ = name.partition("/")
    return slug if sep else None


def _range(slug: str) -> dict[str, str]:
    return {"lo": f"{slug}/", "hi": f"{slug}0"}


_IN_WORKSPACE = "SELECT id FROM packages WHERE name >= :lo AND name < :hi"
_IN_REPOSITORY = "SELECT package_id FROM package_links WHERE repository_id = :repository"
_IN_PACKAGE = "SELECT id FROM packages WHERE name = :name"
# The usage of the packages `{packages}` selects, and what their own figures add up to
# (`linked_bytes`: a blob counted once per package that links it).
_TOTALS = """
SELECT
  COALESCE((SELECT SUM(ub.size) FROM blobs ub WHERE ub.digest IN (
    SELECT upb.digest FROM package_blobs upb WHERE upb.package_id IN ({packages}))), 0)
    AS blob_bytes,
  COALESCE((SELECT SUM(um.size) FROM manifests um WHERE um.package_id IN ({packages})), 0)
    AS manifest_bytes
"""
_LINKED = """
SELECT COALESCE(SUM(ub.size), 0) AS linked_bytes, COUNT(*) AS blobs
FROM package_blobs upb JOIN blobs ub ON ub.digest = upb.digest
WHERE upb.package_id IN ({packages})
"""
# The usage of package `p`, for lists (each blob it links once, and its manifests).
PACKAGE_BYTES = """(
  COALESCE((SELECT SUM(ub.size) FROM package_blobs upb JOIN blobs ub ON ub.digest = upb.digest
    WHERE upb.package_id = p.id), 0)
  + COALESCE((SELECT SUM(um.size) FROM manifests um WHERE um.package_id = p.id), 0)
)"""
_LINKED_IN_WORKSPACE = """
SELECT 1 FROM packages p JOIN package_blobs pb ON pb.package_id = p.id
WHERE p.name >= :lo AND p.name < :hi AND pb.digest = :digest LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class Totals:
    blob_bytes: int
    manifest_bytes: int

    @property
    def bytes(self) -> int:
        return self.blob_bytes + self.manifest_bytes


async def _totals(db: Queries, packages: str, params: Params) -> Totals:
    row = await db.fetchone(_TOTALS.format(packages=packages), params)
    assert row is not None
    return Totals(int(row["blob_bytes"]), int(row["manifest_bytes"]))


async def workspace_bytes(db: Queries, slug: str) -> int:
    """What a workspace's packages take: each distinct blob once, and every manifest."""
    return (await _totals(db, _IN_WORKSPACE, _range(slug))).bytes


# Enforcement, called by the registry's upload and mount use cases.


def _advice() -> str:
    return (
        "delete images (space returns after garbage collection) or ask an admin to raise the quota"
    )


async def _quota(db: Queries, slug: str) -> int | None:
    row = await db.fetchone("SELECT quota_bytes FROM workspaces WHERE slug = :s", {"s": slug})
    return None if row is None or row["quota_bytes"] is None else int(row["quota_bytes"])


async def check_room(db: Queries, *, name: str) -> None:
    """Refuse to start an upload into a workspace that is at or over its quota."""
    slug = workspace_of(name)
    quota = None if slug is None else await _quota(db, slug)
    if slug is None or quota is None:
        return
    used = await workspace_bytes(db, slug)
    if used >= quota:
        raise Denied(
            f"workspace {slug} is at its storage quota: {format_bytes(used)} of"
            f" {format_bytes(quota)} used; {_advice()}",
            detail={"workspace": slug, "used": used, "quota": quota},
        )


async def check_quota(db: Queries, *, name: str, digest: str, size: int) -> None:
    """Refuse a blob that would take package `name`'s workspace over its quota. A blob
    some package of the workspace already links adds nothing, and is always accepted."""
    slug = workspace_of(name)
    quota = None if slug is None else await _quota(db, slug)
    if slug is None or quota is None:
        return
    if await db.fetchone(_LINKED_IN_WORKSPACE, {**_range(slug), "digest": digest}):
        return
    used = await workspace_bytes(db, slug)
    if used + size > quota:
        raise Denied(
            f"workspace {slug} would exceed its storage quota: this {format_bytes(size)}"
            f" layer would bring it to {format_bytes(used + size)} of {format_bytes(quota)};"
            f" {_advice()}",
            detail={"workspace": slug, "used": used, "size": size, "quota": quota},
        )


async def hold_quota(tx: Queries, *, name: str, digest: str, size: int) -> None:
    """In the transaction that links a blob: when the workspace has a quota, lock its row
    and check again, so pushes finishing at the same moment cannot pass it together (they
    queue on the row; workspaces without a quota pay one read and no lock)."""
    slug = workspace_of(name)
    if slug is None or await _quota(tx, slug) is None:
        return
    await tx.fetchone(f"SELECT id FROM workspaces WHERE slug = :s{tx.for_update}", {"s": slug})
    await check_quota(tx, name=name, digest=digest, size=size)


# What people read: the management API, the UI and the CLI.


@dataclass(frozen=True, slots=True)
class PackageUsage:
    name: str
    repository: str | None  # WORKSPACE/REPO; None for a package linked to nothing
    bytes: int


@dataclass(frozen=True, slots=True)
class RepositoryUsage:
    full_name: str
    bytes: int
    package_count: int
    shared_bytes: int  # what its packages' own figures add up to beyond `bytes`


@dataclass(frozen=True, slots=True)
class Quota:
    bytes: int
    quota_bytes: int | None

    @property
    def percent(self) -> float | None:
        return None if self.quota_bytes is None else percent(self.bytes, self.quota_bytes)


@dataclass(frozen=True, slots=True)
class WorkspaceUsage:
    workspace: str
    packages: list[PackageUsage]  # the ones the principal may pull, largest first
    repositories: list[RepositoryUsage]  # the ones the principal may read, largest first
    total: Quota | None  # members only: the whole workspace and its quota
    shared_bytes: int | None  # members only: package figures added up, minus the total


async def show_workspace_usage(db: Queries, principal: Principal, slug: str) -> WorkspaceUsage:
    """The packages and repositories of a workspace the principal may read, with their
    usage, largest first; for members also the workspace's total, quota and sharing.
    NotFound for a workspace where a non-member may read nothing."""
    where, params, member = await scope_conditions(db, principal, slug, None, None)
    params.update(reader_params(principal))
    rows = await db.fetchall(
        f"SELECT p.name, r.slug, {PACKAGE_BYTES} AS bytes FROM packages p"
        " JOIN package_links pl ON pl.package_id = p.id"
        " JOIN repositories r ON r.id = pl.repository_id"
        f" WHERE {' AND '.join(where)} AND {CAN_READ} ORDER BY bytes DESC, p.name",
        params,
    )
    if not rows and not member:
        raise NotFound(f"no workspace {slug[:80]!r}")
    packages = [
        PackageUsage(row["name"], f"{slug}/{row['slug']}", int(row["bytes"])) for row in rows
    ]
    repositories = await _repositories(db, slug, params, packages)
    if not member:
        return WorkspaceUsage(slug, packages, repositories, None, None)
    totals = await _totals(db, _IN_WORKSPACE, _range(slug))
    linked = await db.fetchone(_LINKED.format(packages=_IN_WORKSPACE), _range(slug))
    assert linked is not None
    quota = await _quota(db, slug)
    return WorkspaceUsage(
        slug,
        packages,
        repositories,
        Quota(totals.bytes, quota),
        int(linked["linked_bytes"]) - totals.blob_bytes,
    )


async def _repositories(
    db: Queries, slug: str, params: Params, packages: list[PackageUsage]
) -> list[RepositoryUsage]:
    """The readable repositories of the workspace (every package of a repository one may
    read is readable too, so `packages` holds them all)."""
    rows = await db.fetchall(
        f"SELECT r.id, r.slug FROM repositories r WHERE r.workspace_id = :workspace AND {CAN_READ}",
        params,
    )
    found = []
    for row in rows:
        full_name = f"{slug}/{row['slug']}"
        mine = [p.bytes for p in packages if p.repository == full_name]
        totals = await _totals(db, _IN_REPOSITORY, {"repository": row["id"]})
        found.append(RepositoryUsage(full_name, totals.bytes, len(mine), sum(mine) - totals.bytes))
    return sorted(found, key=lambda r: (-r.bytes, r.full_name))


@dataclass(frozen=True, slots=True)
class RepositoryDetails:
    usage: RepositoryUsage
    packages: list[PackageUsage]


async def show_repository_usage(
    db: Queries, principal: Principal, full_name: str
) -> RepositoryDetails:
    """A repository's usage (its packages' distinct blobs and manifests) and each of its
    packages', largest first; NotFound unless the principal may read it."""
    repository, _ = await require_repository(db, principal, full_name, Role.READ)
    rows = await db.fetchall(
        f"SELECT p.name, {PACKAGE_BYTES} AS bytes FROM packages p"
        " JOIN package_links pl ON pl.package_id = p.id"
        " WHERE pl.repository_id = :repository ORDER BY bytes DESC, p.name",
        {"repository": repository.id},
    )
    packages = [PackageUsage(row["name"], repository.full_name, int(row["bytes"])) for row in rows]
    totals = await _totals(db, _IN_REPOSITORY, {"repository": repository.id})
    shared = sum(p.bytes for p in packages) - totals.bytes
    usage = RepositoryUsage(repository.full_name, totals.bytes, len(packages), shared)
    return RepositoryDetails(usage, packages)


@dataclass(frozen=True, slots=True)
class PackageDetails:
    name: str
    blob_bytes: int
    manifest_bytes: int
    blobs: int
    manifests: int
    shared_bytes: int  # of `blob_bytes`, what other packages of the workspace link too

    @property
    def bytes(self) -> int:
        return self.blob_bytes + self.manifest_bytes


async def show_package_usage(db: Queries, principal: Principal, name: str) -> PackageDetails:
    """A package's usage: its blobs (each once) and manifests, and how much of it other
    packages of its workspace share (deleting the package frees at most the rest)."""
    await require_package(db, principal, name, Role.READ)
    slug = workspace_of(name)
    params: dict[str, object] = {"name": name, **(_range(slug) if slug else {"lo": "", "hi": ""})}
    totals = await _totals(db, _IN_PACKAGE, params)
    counts = await db.fetchone(
        "SELECT (SELECT COUNT(*) FROM package_blobs WHERE package_id = p.id) AS blobs,"
        " (SELECT COUNT(*) FROM manifests WHERE package_id = p.id) AS manifests,"
        " COALESCE((SELECT SUM(b.size) FROM package_blobs pb JOIN blobs b ON b.digest = pb.digest"
        "   WHERE pb.package_id = p.id AND EXISTS (SELECT 1 FROM packages q"
        "     JOIN package_blobs qb ON qb.package_id = q.id"
        "     WHERE q.name >= :lo AND q.name < :hi AND q.id <> p.id AND qb.digest = pb.digest)),"
        " 0) AS shared FROM packages p WHERE p.name = :name",
        params,
    )
    assert counts is not None
    return PackageDetails(
        name,
        totals.blob_bytes,
        totals.manifest_bytes,
        int(counts["blobs"]),
        int(counts["manifests"]),
        int(counts["shared"]),
    )


async def quota_levels(db: Queries, principal: Principal) -> dict[str, Quota]:
    """How full each workspace with a quota is, for the workspaces the person belongs to
    (site admins: all)."""
    user = require_person(principal)
    rows = await db.fetchall(
        "SELECT w.slug, w.quota_bytes FROM workspaces w WHERE w.quota_bytes IS NOT NULL"
        " AND (:admin OR EXISTS (SELECT 1 FROM workspace_members wm"
        "   WHERE wm.workspace_id = w.id AND wm.user_id = :u))",
        {"admin": user.is_admin, "u": user.id},
    )
    return {
        row["slug"]: Quota(await workspace_bytes(db, row["slug"]), int(row["quota_bytes"]))
        for row in rows
    }


# Setting a quota: site admins (through the API), or whoever runs the CLI.


async def set_quota(db: Queries, *, workspace: str, quota_bytes: int | None) -> Quota:
    """Set (None: remove) a workspace's quota; returns its usage against it."""
    if quota_bytes is not None and not 0 <= quota_bytes <= MAX_QUOTA:
        raise Invalid(f"a quota is 0 to {MAX_QUOTA} bytes")
    changed = await db.execute(
        "UPDATE workspaces SET quota_bytes = :q WHERE slug = :s",
        {"q": quota_bytes, "s": workspace},
    )
    if not changed:
        raise NotFound(f"no workspace {workspace[:80]!r}")
    return Quota(await workspace_bytes(db, workspace), quota_bytes)


async def change_quota(
    db: Queries, principal: Principal, workspace: str, *, quota_bytes: int | None
) -> Quota:
    """Set or remove a workspace's quota: site admins only, with admin:package."""
    await require_workspace(db, principal, workspace, change=True)
    if principal.user is None or not principal.user.is_admin:
        raise Forbidden("only site admins may set a workspace's storage quota")
    return await set_quota(db, workspace=workspace, quota_bytes=quota_bytes)


async def show_quota(db: Queries, principal: Principal, workspace: str) -> Quota:
    """A workspace's usage and quota, for its members."""
    await require_workspace(db, principal, workspace)
    return Quota(await workspace_bytes(db, workspace), await _quota(db, workspace))
