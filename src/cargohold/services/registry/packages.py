"""Packages (OCI repositories): find them, and create them on first push."""

from __future__ import annotations

from cargohold.authz.roles import Role
from cargohold.metadata.db import IntegrityError, Queries
from cargohold.oci.errors import NameUnknown
from cargohold.oci.names import validate_name
from cargohold.services.accounts.directory import (
    Repository,
    find_repository,
)
from cargohold.services.accounts.principals import (
    Principal,
    package_access,
    repository_role,
)
from cargohold.services.context import Context
from cargohold.services.errors import Conflict, Invalid, NotFound
from cargohold.services.events import outbox


async def find_package(db: Queries, name: str) -> int:
    row = await db.fetchone("SELECT id FROM packages WHERE name = :name", {"name": name})
    if row is None:
        raise NameUnknown(
            f"repository {name!r} is not known to this registry", detail={"name": name}
        )
    return int(row["id"])


async def ensure_package(db: Queries, name: str, now: float) -> int:
    """The package's id, creating it when absent (development mode creates on first push)."""
    validate_name(name)
    created = await db.execute(
        "INSERT INTO packages (name, created_at) VALUES (:name, :now) ON CONFLICT DO NOTHING",
        {"name": name, "now": now},
    )
    if created:
        await outbox.record(
            db, "package.created", package=name, target=name, data={"on": "push"}, at=now
        )
    return await find_package(db, name)


async def list_packages(db: Queries, *, limit: int, last: str | None) -> tuple[list[str], bool]:
    """Package names in lexical order after `last`; the flag says whether more remain."""
    rows = await db.fetchall(
        "SELECT name FROM packages WHERE name > :last ORDER BY name LIMIT :limit",
        {"last": last or "", "limit": limit + 1},
    )
    names = [row["name"] for row in rows]
    return names[:limit], len(names) > limit


async def create_package(db: Queries, *, name: str, repository: Repository, now: float) -> int:
    """Create a package `WORKSPACE/NAME` linked to a repository of the same workspace."""
    validate_name(name)
    workspace = name.split("/", 1)[0]
    if "/" not in name or workspace != repository.workspace:
        raise Invalid(
            f"package {name!r} must be named {repository.workspace}/NAME to link it to"
            f" {repository.full_name}"
        )
    try:
        await db.execute(
            "INSERT INTO packages (name, created_at) VALUES (:name, :now)",
            {"name": name, "now": now},
        )
    except IntegrityError:
        raise Conflict(f"package {name} already exists") from None
    package_id = await find_package(db, name)
    await link_package(db, package_id=package_id, repository=repository)
    await outbox.record(
        db,
        "package.created",
        package=name,
        repository=repository.full_name,
        target=f"{name}, linked to {repository.full_name}",
        at=now,
    )
    return package_id


async def link_package(db: Queries, *, package_id: int, repository: Repository) -> None:
    await db.execute(
        "INSERT INTO package_links (package_id, repository_id) VALUES (:p, :r)"
        " ON CONFLICT (package_id) DO UPDATE SET repository_id = excluded.repository_id",
        {"p": package_id, "r": repository.id},
    )


async def create_on_push(ctx: Context, principal: Principal, name: str) -> Role:
    """Create a missing package on first push where its workspace allows it: the name must
    equal a repository's slug and the pusher must be admin of that repository. Returns the
    pusher's role on the package (NONE when nothing was created)."""
    workspace, _, rest = name.partition("/")
    if not rest or principal.user is None or principal.robot:
        return Role.NONE
    row = await ctx.db.fetchone(
        "SELECT w.create_on_push FROM workspaces w WHERE w.slug = :w", {"w": workspace}
    )
    if row is None or not row["create_on_push"]:
        return Role.NONE
    try:
        repository = await find_repository(ctx.db, f"{workspace}/{rest}")
    except NotFound:
        return Role.NONE
    role = await repository_role(ctx.db, principal, repository)
    if role < Role.ADMIN:
        return Role.NONE
    async with ctx.db.transaction() as tx:
        package_id = await ensure_package(tx, name, ctx.now())
        await link_package(tx, package_id=package_id, repository=repository)
    return (await package_access(ctx.db, principal, name)).role


async def delete_package(db: Queries, name: str) -> None:
    """Delete a package with its tags, manifests, links and settings (the operator's
    use case: no role is checked); the bytes stay until garbage collection."""
    row = await db.fetchone(
        "SELECT COUNT(t.name) AS tags FROM packages p LEFT JOIN tags t ON t.package_id = p.id"
        " WHERE p.name = :name",
        {"name": name},
    )
    if not await db.execute("DELETE FROM packages WHERE name = :name", {"name": name}):
        raise NotFound(f"no package {name[:255]!r}")
    tags = int(row["tags"]) if row else 0
    await outbox.record(db, "package.deleted", package=name, target=name, data={"tags": tags})
