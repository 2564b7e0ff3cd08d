"""Who is asking, and what they may do with a package.

Effective role = the highest of: site admin, workspace owner (admin), project
grant, repository grant; a public repository adds read for everyone. A token's
scopes then cap it: scopes only ever narrow. Robots (access tokens) act with
their scopes on their own repository or workspace, and as anyone elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cargohold.authz.roles import Role
from cargohold.metadata.db import Queries
from cargohold.services.accounts import Repository, User, get_user
from cargohold.services.errors import NotFound
from cargohold.services.tokens import Token, get_token


@dataclass(frozen=True, slots=True)
class Principal:
    user: User | None = None
    token: Token | None = None

    @property
    def anonymous(self) -> bool:
        return self.user is None and self.token is None

    @property
    def robot(self) -> bool:
        return self.token is not None and self.token.kind != "personal"

    @property
    def ceiling(self) -> Role:
        return self.token.ceiling if self.token is not None else Role.ADMIN

    @property
    def subject(self) -> str:
        if self.robot:
            assert self.token is not None
            return f"robot:{self.token.id}"
        if self.user is not None:
            suffix = f":{self.token.id}" if self.token is not None else ""
            return f"user:{self.user.id}{suffix}"
        return "anonymous"


ANONYMOUS = Principal()

_ROLES = """
  CASE WHEN EXISTS (SELECT 1 FROM workspace_members wm WHERE wm.workspace_id = r.workspace_id
    AND wm.user_id = :u AND wm.is_owner) THEN 3 ELSE 0 END AS owner_role,
  COALESCE((SELECT pg.role FROM project_grants pg WHERE pg.project_id = r.project_id
    AND pg.user_id = :u), 0) AS project_role,
  COALESCE((SELECT rg.role FROM repository_grants rg WHERE rg.repository_id = r.id
    AND rg.user_id = :u), 0) AS repository_role
"""
_PACKAGE = f"""
SELECT p.id, r.id AS repository_id, r.workspace_id, r.is_public, {_ROLES}
FROM packages p
LEFT JOIN package_links pl ON pl.package_id = p.id
LEFT JOIN repositories r ON r.id = pl.repository_id
WHERE p.name = :name
"""
_REPOSITORY = f"""
SELECT r.id AS repository_id, r.workspace_id, r.is_public, {_ROLES}
FROM repositories r WHERE r.id = :id
"""


@dataclass(frozen=True, slots=True)
class PackageAccess:
    exists: bool
    role: Role


def _role_from_row(principal: Principal, row: Any) -> Role:
    if row["repository_id"] is None:  # a package made in development mode, linked to nothing
        return Role.ADMIN if principal.user is not None and principal.user.is_admin else Role.NONE
    public = Role.READ if row["is_public"] else Role.NONE
    token = principal.token
    if principal.robot:
        assert token is not None
        mine = (token.kind == "repository" and token.repository_id == row["repository_id"]) or (
            token.kind == "workspace" and token.workspace_id == row["workspace_id"]
        )
        return max(token.ceiling if mine else Role.NONE, public)
    if principal.user is None:
        return public
    if principal.user.is_admin:
        role = Role.ADMIN
    else:
        role = Role(max(row["owner_role"], row["project_role"], row["repository_role"]))
    return min(max(role, public), principal.ceiling)


async def package_access(db: Queries, principal: Principal, name: str) -> PackageAccess:
    user_id = principal.user.id if principal.user is not None else -1
    row = await db.fetchone(_PACKAGE, {"u": user_id, "name": name})
    if row is None:
        return PackageAccess(False, Role.NONE)
    return PackageAccess(True, _role_from_row(principal, row))


async def repository_role(db: Queries, principal: Principal, repository: Repository) -> Role:
    user_id = principal.user.id if principal.user is not None else -1
    row = await db.fetchone(_REPOSITORY, {"u": user_id, "id": repository.id})
    return Role.NONE if row is None else _role_from_row(principal, row)


_READABLE = """
SELECT p.name FROM packages p
JOIN package_links pl ON pl.package_id = p.id
JOIN repositories r ON r.id = pl.repository_id
WHERE p.name > :last AND (
  r.is_public OR :admin
  OR r.id = :robot_repo
  OR r.workspace_id = :robot_ws
  OR EXISTS (SELECT 1 FROM workspace_members wm WHERE wm.workspace_id = r.workspace_id
     AND wm.user_id = :u AND wm.is_owner)
  OR EXISTS (SELECT 1 FROM project_grants pg WHERE pg.project_id = r.project_id
     AND pg.user_id = :u)
  OR EXISTS (SELECT 1 FROM repository_grants rg WHERE rg.repository_id = r.id
     AND rg.user_id = :u)
)
ORDER BY p.name LIMIT :n
"""


async def readable_packages(
    db: Queries, principal: Principal, *, limit: int, last: str | None
) -> tuple[list[str], bool]:
    """Names of the packages the principal may pull, in lexical order after `last`."""
    token = principal.token
    robot = principal.robot and token is not None
    params = {
        "last": last or "",
        "n": limit + 1,
        "admin": bool(principal.user is not None and principal.user.is_admin and not robot),
        "u": principal.user.id if principal.user is not None and not robot else -1,
        "robot_repo": token.repository_id if robot and token and token.repository_id else -1,
        "robot_ws": token.workspace_id
        if robot and token and token.kind == "workspace" and token.workspace_id
        else -1,
    }
    rows = await db.fetchall(_READABLE, params)
    names = [row["name"] for row in rows]
    return names[:limit], len(names) > limit


async def principal_for_subject(db: Queries, subject: str) -> Principal:
    """Rebuild the principal a registry token was issued to (for the catalog, not hot paths)."""
    kind, _, rest = subject.partition(":")
    try:
        if kind == "robot":
            return Principal(token=await get_token(db, rest))
        if kind == "user":
            user_id, _, token_id = rest.partition(":")
            token = await get_token(db, token_id) if token_id else None
            return Principal(user=await get_user(db, int(user_id)), token=token)
    except (NotFound, ValueError):
        pass
    return ANONYMOUS
