"""Source repositories and their grants, as people manage them.

A person sees the repositories they may read (owners: all of the workspace);
owners create them, change their visibility and manage their grants.
"""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.authz.roles import Role
from cargohold.metadata.db import Queries, Row
from cargohold.services.accounts import directory
from cargohold.services.accounts.directory import RoleGrant, drop_grant, granted_role, grants
from cargohold.services.accounts.principals import (
    CAN_READ,
    ROLE_COLUMNS,
    Principal,
    membership,
    reader_params,
    require_person,
    require_repository,
    require_workspace,
    role_of,
)
from cargohold.services.errors import Forbidden, NotFound


@dataclass(frozen=True, slots=True)
class RepositoryInfo:
    workspace: str
    slug: str
    project: str
    public: bool
    created_at: float
    role: Role  # the role of the person asking

    @property
    def full_name(self) -> str:
        return f"{self.workspace}/{self.slug}"


_REPOSITORIES = f"""
SELECT r.id AS repository_id, r.workspace_id, r.slug, r.is_public, r.created_at,
  w.slug AS workspace, p.key AS project, {ROLE_COLUMNS}
FROM repositories r
JOIN workspaces w ON w.id = r.workspace_id
JOIN projects p ON p.id = r.project_id
"""


def _info(principal: Principal, row: Row) -> RepositoryInfo:
    return RepositoryInfo(
        row["workspace"],
        row["slug"],
        row["project"],
        bool(row["is_public"]),
        row["created_at"],
        role_of(principal, row),
    )


async def list_repositories(db: Queries, principal: Principal, slug: str) -> list[RepositoryInfo]:
    """The workspace's repositories the person may read; NotFound for a workspace where
    they belong to nothing and read nothing."""
    require_person(principal)
    workspace = await db.fetchone("SELECT id FROM workspaces WHERE slug = :s", {"s": slug})
    if workspace is None:
        raise NotFound(f"no workspace {slug[:80]!r}")
    rows = await db.fetchall(
        f"{_REPOSITORIES} WHERE r.workspace_id = :w AND {CAN_READ} ORDER BY r.slug",
        {"w": workspace["id"], **reader_params(principal)},
    )
    if not rows and not (await membership(db, principal, int(workspace["id"]))).member:
        raise NotFound(f"no workspace {slug[:80]!r}")
    return [_info(principal, row) for row in rows]


async def show_repository(db: Queries, principal: Principal, full_name: str) -> RepositoryInfo:
    require_person(principal)
    repository, _ = await require_repository(db, principal, full_name, Role.READ)
    row = await db.fetchone(
        f"{_REPOSITORIES} WHERE r.id = :id", {"id": repository.id, **reader_params(principal)}
    )
    assert row is not None
    return _info(principal, row)


async def add_repository(
    db: Queries,
    principal: Principal,
    slug: str,
    *,
    repository: str,
    project: str,
    public: bool,
    now: float,
) -> RepositoryInfo:
    await require_workspace(db, principal, slug, owner=True, change=True)
    created = await directory.create_repository(
        db, full_name=f"{slug}/{repository}", project_key=project, public=public, now=now
    )
    return await show_repository(db, principal, created.full_name)


async def _owned(db: Queries, principal: Principal, full_name: str) -> directory.Repository:
    """A repository of a workspace the person owns: NotFound for those who may not read
    it, Forbidden for those who may but do not own its workspace."""
    require_person(principal)
    repository, _ = await require_repository(db, principal, full_name, Role.READ)
    if not (await membership(db, principal, repository.workspace_id)).owner:
        raise Forbidden(f"only owners of workspace {repository.workspace} may do this")
    return repository


async def update_repository(
    db: Queries, principal: Principal, full_name: str, *, public: bool | None
) -> RepositoryInfo:
    require_person(principal, change=True)
    repository = await _owned(db, principal, full_name)
    if public is not None:
        await directory.set_repository_visibility(db, repository=repository, public=public)
    return await show_repository(db, principal, full_name)


async def rename_repository(
    db: Queries, principal: Principal, full_name: str, *, slug: str
) -> RepositoryInfo:
    """Owners rename a repository; its packages, grants and tokens stay linked to it."""
    require_person(principal, change=True)
    repository = await _owned(db, principal, full_name)
    renamed = await directory.rename_repository(db, repository=repository, slug=slug)
    return await show_repository(db, principal, renamed.full_name)


async def list_repository_grants(
    db: Queries, principal: Principal, full_name: str
) -> list[RoleGrant]:
    """Owners see and change grants."""
    repository = await _owned(db, principal, full_name)
    return await grants(db, "repository_grants", "repository_id", repository.id)


async def set_repository_grant(
    db: Queries, principal: Principal, full_name: str, *, email: str, role: Role
) -> RoleGrant:
    require_person(principal, change=True)
    repository = await _owned(db, principal, full_name)
    user = await directory.find_user(db, email)
    await directory.grant_repository(db, repository=repository, user=user, role=granted_role(role))
    return RoleGrant(user, role)


async def remove_repository_grant(
    db: Queries, principal: Principal, full_name: str, *, email: str
) -> None:
    require_person(principal, change=True)
    repository = await _owned(db, principal, full_name)
    user = await directory.find_user(db, email)
    await drop_grant(db, "repository_grants", "repository_id", repository.id, user)


_ADMIN_SOMEWHERE = """
SELECT 1 AS yes WHERE (:admin AND EXISTS (SELECT 1 FROM repositories))
OR EXISTS (SELECT 1 FROM workspace_members wm
  JOIN repositories r ON r.workspace_id = wm.workspace_id WHERE wm.user_id = :u AND wm.is_owner)
OR EXISTS (SELECT 1 FROM project_grants pg JOIN repositories r ON r.project_id = pg.project_id
  WHERE pg.user_id = :u AND pg.role >= :role)
OR EXISTS (SELECT 1 FROM repository_grants rg WHERE rg.user_id = :u AND rg.role >= :role)
"""


async def may_create_packages(db: Queries, principal: Principal) -> bool:
    """Whether the person is admin of at least one repository, so may create a package
    (one query, asked by every page that offers it)."""
    user = principal.user
    if user is None or principal.robot or principal.ceiling < Role.ADMIN:
        return False
    params = {"admin": user.is_admin, "u": user.id, "role": int(Role.ADMIN)}
    return await db.fetchone(_ADMIN_SOMEWHERE, params) is not None


async def admin_repositories(db: Queries, principal: Principal) -> list[RepositoryInfo]:
    """The repositories where the person is admin: where they may create packages."""
    require_person(principal)
    rows = await db.fetchall(
        f"{_REPOSITORIES} WHERE {CAN_READ} ORDER BY w.slug, r.slug", reader_params(principal)
    )
    infos = [_info(principal, row) for row in rows]
    return [info for info in infos if info.role >= Role.ADMIN]
