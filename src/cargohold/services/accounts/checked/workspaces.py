"""Workspaces, their members, projects and project grants, as people manage them.

Every use case checks who is asking: members see a workspace, owners (and site
admins) change it, and changes need a personal token with the admin:package scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.authz.roles import Role
from cargohold.metadata.db import Queries, Row
from cargohold.services.accounts import directory
from cargohold.services.accounts.directory import (
    RoleGrant,
    User,
    drop_grant,
    granted_role,
    grants,
    user_of_row,
)
from cargohold.services.accounts.principals import Principal, require_person, require_workspace
from cargohold.services.errors import Conflict, Forbidden, Invalid, NotFound
from cargohold.services.events import outbox


@dataclass(frozen=True, slots=True)
class Workspace:
    slug: str
    name: str
    create_on_push: bool
    created_at: float
    owner: bool  # whether the person asking is an owner
    quota_bytes: int | None = None  # the storage quota (registry/quotas.py); None: none


@dataclass(frozen=True, slots=True)
class Member:
    user: User
    owner: bool


@dataclass(frozen=True, slots=True)
class Project:
    workspace: str
    key: str
    name: str
    created_at: float


@dataclass(frozen=True, slots=True)
class WorkspaceGrant:
    """A role given to a person on one project or repository of a workspace."""

    user: User
    kind: str  # "project" or "repository"
    target: str  # the project's key or the repository's slug
    role: Role


_WORKSPACE = (
    "SELECT w.id, w.slug, w.name, w.create_on_push, w.created_at, w.quota_bytes FROM workspaces w"
)


def _workspace(row: Row, owner: bool) -> Workspace:
    quota = row["quota_bytes"]
    return Workspace(
        row["slug"],
        row["name"],
        bool(row["create_on_push"]),
        row["created_at"],
        owner,
        None if quota is None else int(quota),
    )


async def list_workspaces(db: Queries, principal: Principal) -> list[Workspace]:
    """The workspaces the person belongs to (site admins: all of them)."""
    user = require_person(principal)
    if user.is_admin:
        rows = await db.fetchall(f"{_WORKSPACE} ORDER BY w.slug")
        return [_workspace(row, True) for row in rows]
    rows = await db.fetchall(
        "SELECT w.id, w.slug, w.name, w.create_on_push, w.created_at, w.quota_bytes,"
        " wm.is_owner"
        " FROM workspaces w JOIN workspace_members wm ON wm.workspace_id = w.id"
        " WHERE wm.user_id = :u ORDER BY w.slug",
        {"u": user.id},
    )
    return [_workspace(row, bool(row["is_owner"])) for row in rows]


async def show_workspace(db: Queries, principal: Principal, slug: str) -> Workspace:
    seen = await require_workspace(db, principal, slug)
    row = await db.fetchone(f"{_WORKSPACE} WHERE w.id = :id", {"id": seen.workspace_id})
    assert row is not None
    return _workspace(row, seen.owner)


async def add_workspace(
    db: Queries,
    principal: Principal,
    *,
    slug: str,
    name: str | None,
    owner_email: str | None,
    create_on_push: bool,
    now: float,
) -> Workspace:
    """Any person may create a workspace and owns it; a site admin may name another owner."""
    user = require_person(principal, change=True)
    owner = user
    if owner_email is not None and directory.normalise_email(owner_email) != user.email:
        if not user.is_admin:
            raise Forbidden("only site admins may create a workspace for someone else")
        owner = await directory.find_user(db, owner_email)
    workspace_id = await directory.create_workspace(db, slug=slug, owner=owner, name=name, now=now)
    if create_on_push:
        await directory.set_create_on_push(db, workspace_id=workspace_id, enabled=True)
    return await show_workspace(db, principal, slug)


async def update_workspace(
    db: Queries,
    principal: Principal,
    slug: str,
    *,
    name: str | None = None,
    create_on_push: bool | None = None,
) -> Workspace:
    seen = await require_workspace(db, principal, slug, owner=True, change=True)
    if name is not None:
        name = name.strip()
        if not name or len(name) > 200:
            raise Invalid("a workspace name is 1 to 200 characters")
        before = await db.fetchone(
            "SELECT name FROM workspaces WHERE id = :w", {"w": seen.workspace_id}
        )
        await db.execute(
            "UPDATE workspaces SET name = :n WHERE id = :w", {"n": name, "w": seen.workspace_id}
        )
        if before is not None and before["name"] != name:
            await outbox.record(
                db,
                "workspace.changed",
                workspace=slug,
                target=f"{slug}: named {name}",
                data={"name": {"from": before["name"], "to": name}},
            )
    if create_on_push is not None:
        await directory.set_create_on_push(
            db, workspace_id=seen.workspace_id, enabled=create_on_push
        )
    return await show_workspace(db, principal, slug)


_MEMBERS = """
SELECT u.id AS user_id, u.email, u.display_name, u.is_admin, wm.is_owner
FROM workspace_members wm JOIN users u ON u.id = wm.user_id
WHERE wm.workspace_id = :w
"""


async def list_members(db: Queries, principal: Principal, slug: str) -> list[Member]:
    seen = await require_workspace(db, principal, slug)
    rows = await db.fetchall(f"{_MEMBERS} ORDER BY u.email", {"w": seen.workspace_id})
    return [Member(user_of_row(row), bool(row["is_owner"])) for row in rows]


async def _owner_count(db: Queries, workspace_id: int) -> int:
    row = await db.fetchone(
        "SELECT COUNT(*) AS n FROM workspace_members WHERE workspace_id = :w AND is_owner",
        {"w": workspace_id},
    )
    return int(row["n"]) if row else 0


async def _member(db: Queries, workspace_id: int, user: User) -> Member | None:
    row = await db.fetchone(f"{_MEMBERS} AND wm.user_id = :u", {"w": workspace_id, "u": user.id})
    return None if row is None else Member(user_of_row(row), bool(row["is_owner"]))


async def put_member(
    db: Queries, principal: Principal, slug: str, *, email: str, owner: bool
) -> tuple[Member, bool]:
    """Add a person to the workspace or change whether they own it; True when added.
    The last owner stays an owner."""
    seen = await require_workspace(db, principal, slug, owner=True, change=True)
    user = await directory.find_user(db, email)
    before = await _member(db, seen.workspace_id, user)
    if before is not None and before.owner and not owner:
        await _keep_an_owner(db, seen.workspace_id, slug)
    await directory.set_member(db, workspace_id=seen.workspace_id, user=user, owner=owner)
    return Member(user, owner), before is None


async def remove_member(db: Queries, principal: Principal, slug: str, *, email: str) -> None:
    seen = await require_workspace(db, principal, slug, owner=True, change=True)
    user = await directory.find_user(db, email)
    before = await _member(db, seen.workspace_id, user)
    if before is None:
        raise NotFound(f"{user.email} is not a member of {slug}")
    if before.owner:
        await _keep_an_owner(db, seen.workspace_id, slug)
    await db.execute(
        "DELETE FROM workspace_members WHERE workspace_id = :w AND user_id = :u",
        {"w": seen.workspace_id, "u": user.id},
    )
    await directory.record_member_removed(db, workspace=slug, user=user)


async def _keep_an_owner(db: Queries, workspace_id: int, slug: str) -> None:
    if await _owner_count(db, workspace_id) <= 1:
        raise Conflict(f"{slug} needs at least one owner; make someone else an owner first")


_PROJECTS = "SELECT p.id, p.key, p.name, p.created_at FROM projects p WHERE p.workspace_id = :w"


async def list_projects(db: Queries, principal: Principal, slug: str) -> list[Project]:
    seen = await require_workspace(db, principal, slug)
    rows = await db.fetchall(f"{_PROJECTS} ORDER BY p.key", {"w": seen.workspace_id})
    return [Project(slug, row["key"], row["name"], row["created_at"]) for row in rows]


async def show_project(db: Queries, principal: Principal, slug: str, key: str) -> Project:
    seen = await require_workspace(db, principal, slug)
    row = await db.fetchone(f"{_PROJECTS} AND p.key = :k", {"w": seen.workspace_id, "k": key})
    if row is None:
        raise NotFound(f"no project {key[:40]!r} in {slug}")
    return Project(slug, row["key"], row["name"], row["created_at"])


async def add_project(
    db: Queries, principal: Principal, slug: str, *, key: str, name: str | None, now: float
) -> Project:
    await require_workspace(db, principal, slug, owner=True, change=True)
    await directory.create_project(db, workspace=slug, key=key, name=name, now=now)
    return await show_project(db, principal, slug, key)


async def rename_project(
    db: Queries, principal: Principal, slug: str, key: str, *, name: str
) -> Project:
    """Owners rename a project (its key, part of no address, stays)."""
    require_person(principal, change=True)
    project_id = await _project_id(db, principal, slug, key)
    await directory.rename_project(db, project_id=project_id, name=name)
    return await show_project(db, principal, slug, key)


_WORKSPACE_GRANTS = """
SELECT u.id AS user_id, u.email, u.display_name, u.is_admin, g.role,
  'project' AS kind, p.key AS target
FROM project_grants g JOIN projects p ON p.id = g.project_id JOIN users u ON u.id = g.user_id
WHERE p.workspace_id = :w
UNION ALL
SELECT u.id AS user_id, u.email, u.display_name, u.is_admin, g.role,
  'repository' AS kind, r.slug AS target
FROM repository_grants g JOIN repositories r ON r.id = g.repository_id
JOIN users u ON u.id = g.user_id
WHERE r.workspace_id = :w
ORDER BY email, kind, target
"""


async def list_workspace_grants(
    db: Queries, principal: Principal, slug: str
) -> list[WorkspaceGrant]:
    """Every grant on the workspace's projects and repositories, in one query; owners only."""
    seen = await require_workspace(db, principal, slug, owner=True)
    rows = await db.fetchall(_WORKSPACE_GRANTS, {"w": seen.workspace_id})
    return [
        WorkspaceGrant(user_of_row(row), row["kind"], row["target"], Role(int(row["role"])))
        for row in rows
    ]


async def _project_id(db: Queries, principal: Principal, slug: str, key: str) -> int:
    seen = await require_workspace(db, principal, slug, owner=True)
    return await directory.find_project(db, workspace_id=seen.workspace_id, key=key)


async def list_project_grants(
    db: Queries, principal: Principal, slug: str, key: str
) -> list[RoleGrant]:
    """Owners see and change grants."""
    project_id = await _project_id(db, principal, slug, key)
    return await grants(db, "project_grants", "project_id", project_id)


async def set_project_grant(
    db: Queries, principal: Principal, slug: str, key: str, *, email: str, role: Role
) -> RoleGrant:
    require_person(principal, change=True)
    project_id = await _project_id(db, principal, slug, key)
    user = await directory.find_user(db, email)
    await directory.grant_project(db, project_id=project_id, user=user, role=granted_role(role))
    return RoleGrant(user, role)


async def remove_project_grant(
    db: Queries, principal: Principal, slug: str, key: str, *, email: str
) -> None:
    require_person(principal, change=True)
    project_id = await _project_id(db, principal, slug, key)
    user = await directory.find_user(db, email)
    await drop_grant(db, "project_grants", "project_id", project_id, user)
