"""Storage usage of packages, repositories and workspaces, and workspace quotas, as
people read and set them (the quota check on the push path is `registry.quotas`).

The usage of a set of packages is the size of every distinct blob linked to any of
them (a layer shared by several images counts once) plus the size of their
manifests. A package's workspace is the first component of its name, so a
workspace's packages are the names in the range [`slug/`, `slug0`) (`0` follows
`/`), which the unique index on names reads directly. Bytes count until garbage
collection unlinks them.
"""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.authz.roles import Role
from cargohold.metadata.db import Params, Queries
from cargohold.services.accounts.principals import (
    CAN_READ,
    Principal,
    reader_params,
    require_package,
    require_person,
    require_repository,
    require_workspace,
)
from cargohold.services.errors import Forbidden, NotFound
from cargohold.services.registry.checked.packages import scope_conditions
from cargohold.services.registry.quotas import (
    IN_WORKSPACE,
    PACKAGE_BYTES,
    Quota,
    quota_of,
    set_quota,
    totals_of,
    workspace_bytes,
    workspace_of,
    workspace_range,
)

_IN_REPOSITORY = "SELECT package_id FROM package_links WHERE repository_id = :repository"


_IN_PACKAGE = "SELECT id FROM packages WHERE name = :name"


_LINKED = """
SELECT COALESCE(SUM(ub.size), 0) AS linked_bytes, COUNT(*) AS blobs
FROM package_blobs upb JOIN blobs ub ON ub.digest = upb.digest
WHERE upb.package_id IN ({packages})
"""


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
class WorkspaceUsage:
    workspace: str
    packages: list[PackageUsage]  # the ones the principal may pull, largest first
    repositories: list[RepositoryUsage]  # the ones the principal may read, largest first
    total: Quota | None  # members only: the whole workspace and its quota
    shared_bytes: int | None  # members only: package figures added up, minus the total


# The bytes of the blobs linked to a workspace's packages that no manifest of its packages
# references: what garbage collection unlinks (after its grace period), read in one pass
# over the workspace's links and references (no per-blob lookup; 0.2 s for 40,000 links on
# SQLite, less than the workspace's total).
_UNUSED = """
SELECT COALESCE(SUM(b.size), 0) AS bytes FROM blobs b WHERE b.digest IN (
  SELECT pb.digest FROM package_blobs pb WHERE pb.package_id IN ({packages})
  EXCEPT
  SELECT r.digest FROM manifest_references r JOIN manifests m ON m.id = r.manifest_id
  WHERE m.package_id IN ({packages})
)
"""


@dataclass(frozen=True, slots=True)
class Collection:
    """Garbage collection as a workspace's members see it."""

    last_finished_at: float | None  # the last collection that ended (the whole registry)
    last_outcome: str | None  # done, failed
    unused_bytes: int  # the workspace's layers no image uses: what the next one unlinks


async def show_collection(db: Queries, principal: Principal, slug: str) -> Collection:
    """When garbage collection last ended, and an estimate of what the next one takes off
    the workspace's usage (members only)."""
    await require_workspace(db, principal, slug)
    last = await db.fetchone(
        "SELECT finished_at, outcome FROM gc_runs WHERE finished_at IS NOT NULL"
        " ORDER BY finished_at DESC LIMIT 1"
    )
    unused = await db.fetchone(_UNUSED.format(packages=IN_WORKSPACE), workspace_range(slug))
    assert unused is not None
    return Collection(
        None if last is None else float(last["finished_at"]),
        None if last is None else str(last["outcome"]),
        int(unused["bytes"]),
    )


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
    totals = await totals_of(db, IN_WORKSPACE, workspace_range(slug))
    linked = await db.fetchone(_LINKED.format(packages=IN_WORKSPACE), workspace_range(slug))
    assert linked is not None
    quota = await quota_of(db, slug)
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
        totals = await totals_of(db, _IN_REPOSITORY, {"repository": row["id"]})
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
    totals = await totals_of(db, _IN_REPOSITORY, {"repository": repository.id})
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
    params: dict[str, object] = {
        "name": name,
        **(workspace_range(slug) if slug else {"lo": "", "hi": ""}),
    }
    totals = await totals_of(db, _IN_PACKAGE, params)
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
    return Quota(await workspace_bytes(db, workspace), await quota_of(db, workspace))
