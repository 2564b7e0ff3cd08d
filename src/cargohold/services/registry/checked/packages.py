"""Packages as people manage them: listed, shown, created, moved and deleted, each checked
against the principal's role (NotFound for a package they may not pull)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cargohold.authz.roles import Role
from cargohold.metadata.db import Queries, Row
from cargohold.oci.errors import NameInvalid
from cargohold.services.accounts.directory import (
    find_project,
    find_workspace,
)
from cargohold.services.accounts.principals import (
    CAN_READ,
    ROLE_COLUMNS,
    Principal,
    membership,
    reader_params,
    require_package,
    require_repository,
    role_of,
)
from cargohold.services.errors import Forbidden, Invalid, NotFound
from cargohold.services.events import outbox
from cargohold.services.events.downloads import PACKAGE_DOWNLOADS
from cargohold.services.registry.packages import (
    create_package,
    delete_package,
    find_package,
    link_package,
)


@dataclass(frozen=True, slots=True)
class PackageInfo:
    name: str
    workspace: str
    repository: str  # WORKSPACE/REPO
    project: str
    public: bool
    created_at: float
    tag_count: int
    role: Role  # the role of the principal asking
    downloads: int = 0  # pulls of the package, all time (written every few seconds)


_PACKAGES = f"""
SELECT p.id, p.name, p.created_at, r.id AS repository_id, r.workspace_id, r.slug,
  r.is_public, w.slug AS workspace, pr.key AS project,
  (SELECT COUNT(*) FROM tags t WHERE t.package_id = p.id) AS tag_count,
  {PACKAGE_DOWNLOADS} AS downloads, {ROLE_COLUMNS}
FROM packages p
JOIN package_links pl ON pl.package_id = p.id
JOIN repositories r ON r.id = pl.repository_id
JOIN workspaces w ON w.id = r.workspace_id
JOIN projects pr ON pr.id = r.project_id
"""


def _info(principal: Principal, row: Row) -> PackageInfo:
    return PackageInfo(
        name=row["name"],
        workspace=row["workspace"],
        repository=f"{row['workspace']}/{row['slug']}",
        project=row["project"],
        public=bool(row["is_public"]),
        created_at=row["created_at"],
        tag_count=int(row["tag_count"]),
        role=role_of(principal, row),
        downloads=int(row["downloads"]),
    )


async def scope_conditions(
    db: Queries,
    principal: Principal,
    workspace: str,
    project: str | None,
    repository: str | None,
) -> tuple[list[str], dict[str, Any], bool]:
    """The conditions that narrow a list to a workspace, project or repository, and whether
    the principal is a member (a non-member who may read nothing there gets NotFound)."""
    if repository is not None:
        found, _ = await require_repository(db, principal, f"{workspace}/{repository}", Role.READ)
        return ["r.id = :repository"], {"repository": found.id}, True
    try:
        workspace_id = await find_workspace(db, workspace)
    except NotFound:
        raise NotFound(f"no workspace {workspace[:80]!r}") from None
    member = (await membership(db, principal, workspace_id)).member
    where, params = ["r.workspace_id = :workspace"], {"workspace": workspace_id}
    if project is not None:
        try:
            project_id = await find_project(db, workspace_id=workspace_id, key=project)
        except NotFound:
            if member:
                raise
            raise NotFound(f"no workspace {workspace[:80]!r}") from None
        where.append("r.project_id = :project")
        params["project"] = project_id
    return where, params, member


async def browse_packages(
    db: Queries,
    principal: Principal,
    *,
    workspace: str,
    project: str | None = None,
    repository: str | None = None,
    limit: int,
    after: str | None = None,
) -> tuple[list[PackageInfo], bool]:
    """The packages of a workspace (or one of its projects or repositories) the principal
    may pull, in name order after `after`; the flag says whether more remain.

    A workspace or project is NotFound to a non-member who may pull nothing in it; a
    repository is NotFound to whoever may not read it."""
    scope, params, member = await scope_conditions(db, principal, workspace, project, repository)
    where = ["p.name > :after", CAN_READ, *scope]
    params["after"] = after or ""
    sql = f"{_PACKAGES} WHERE {' AND '.join(where)} ORDER BY p.name LIMIT :n"
    params.update(reader_params(principal))
    rows = await db.fetchall(sql, {**params, "n": limit + 1})
    if not rows and not member and not await db.fetchall(sql, {**params, "after": "", "n": 1}):
        raise NotFound(f"no workspace {workspace[:80]!r}")
    infos = [_info(principal, row) for row in rows]
    return infos[:limit], len(infos) > limit


_GRANTED = """(
  EXISTS (SELECT 1 FROM project_grants pg WHERE pg.project_id = r.project_id AND pg.user_id = :u)
  OR EXISTS (SELECT 1 FROM repository_grants rg WHERE rg.repository_id = r.id AND rg.user_id = :u)
) AND NOT EXISTS (
  SELECT 1 FROM workspace_members wm WHERE wm.workspace_id = r.workspace_id AND wm.user_id = :u
)"""


async def granted_packages(
    db: Queries, principal: Principal, *, limit: int
) -> tuple[list[PackageInfo], bool]:
    """The packages a person reaches through a role granted on a project or repository of a
    workspace they do not belong to (those of their own workspaces are listed there), in
    name order; the flag says whether more remain. Nobody else has any."""
    user = principal.user
    if user is None or principal.robot:
        return [], False
    params = {**reader_params(principal), "n": limit + 1}
    rows = await db.fetchall(f"{_PACKAGES} WHERE {_GRANTED} ORDER BY p.name LIMIT :n", params)
    infos = [_info(principal, row) for row in rows]
    return infos[:limit], len(infos) > limit


async def show_package(db: Queries, principal: Principal, name: str) -> PackageInfo:
    await require_package(db, principal, name, Role.READ)
    row = await db.fetchone(
        f"{_PACKAGES} WHERE p.name = :name", {"name": name, **reader_params(principal)}
    )
    if row is None:  # a package linked to nothing (development mode): only site admins see it
        raise NotFound(f"package {name} is linked to no repository; link it first")
    return _info(principal, row)


def _repository_name(package: str, repository: str) -> str:
    """`WORKSPACE/REPO`, or a bare `REPO` taken to be in the package's workspace."""
    return repository if "/" in repository else f"{package.split('/', 1)[0]}/{repository}"


async def add_package(
    db: Queries, principal: Principal, *, name: str, repository: str, now: float
) -> PackageInfo:
    """Create a package linked to a repository; needs admin on the repository."""
    found, _ = await require_repository(
        db, principal, _repository_name(name, repository), Role.ADMIN
    )
    try:
        await create_package(db, name=name, repository=found, now=now)
    except NameInvalid as exc:
        raise Invalid(exc.message) from None
    return await show_package(db, principal, name)


async def _is_public(db: Queries, name: str) -> bool:
    row = await db.fetchone(
        "SELECT r.is_public FROM packages p JOIN package_links pl ON pl.package_id = p.id"
        " JOIN repositories r ON r.id = pl.repository_id WHERE p.name = :name",
        {"name": name},
    )
    return row is not None and bool(row["is_public"])


async def relink_package(
    db: Queries, principal: Principal, *, name: str, repository: str
) -> PackageInfo:
    """Link a package to another repository of its workspace; needs admin on the package
    and on the repository it moves to.

    A move into a public repository makes a private package public, so it also needs what
    making a repository public needs: an owner of the workspace, acting as a person."""
    await require_package(db, principal, name, Role.ADMIN)
    target, _ = await require_repository(
        db, principal, _repository_name(name, repository), Role.ADMIN
    )
    if target.workspace != name.split("/", 1)[0]:
        raise Invalid(f"package {name} can only be linked to a repository of its workspace")
    publishes = target.is_public and not await _is_public(db, name)
    if publishes and not (await membership(db, principal, target.workspace_id)).owner:
        raise Forbidden(  # robots are never owners
            f"moving package {name} into the public repository {target.full_name} makes"
            " it public, which needs the right to make a repository public: an owner of"
            f" workspace {target.workspace}, acting as a person (not an access token)"
        )
    before = await db.fetchone(
        "SELECT w.slug AS workspace, r.slug FROM packages p"
        " JOIN package_links pl ON pl.package_id = p.id"
        " JOIN repositories r ON r.id = pl.repository_id"
        " JOIN workspaces w ON w.id = r.workspace_id WHERE p.name = :name",
        {"name": name},
    )
    moved_from = f"{before['workspace']}/{before['slug']}" if before else None
    await link_package(db, package_id=await find_package(db, name), repository=target)
    if moved_from != target.full_name:
        await outbox.record(
            db,
            "package.moved",
            package=name,
            repository=target.full_name,
            target=f"{name}, linked to {target.full_name}",
            data={"from": moved_from, "to": target.full_name, "public": target.is_public},
        )
    return await show_package(db, principal, name)


async def remove_package(db: Queries, principal: Principal, name: str) -> None:
    """Delete a package with its tags, manifests and links (the database cascades);
    the bytes stay until garbage collection. Needs admin on the package."""
    await require_package(db, principal, name, Role.ADMIN)
    await delete_package(db, name)
