"""Who is asking, and what they may do with a package.

Effective role = the highest of: site admin, workspace owner (admin), project
grant, repository grant; a public repository adds read for everyone. A token's
scopes then cap it: scopes only ever narrow. Robots (access tokens) act with
their scopes on their own repository or workspace, and as anyone elsewhere. A pipeline
logged in with an OpenID Connect ID token (`Federation`) is a robot too: the trust
policies its token matched each grant a role on a repository or workspace, exactly as an
access token's scopes do, and it acts as anyone elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cargohold.authz.roles import SCOPES, Role
from cargohold.metadata.db import Queries
from cargohold.services.accounts.directory import Repository, User, find_repository, get_user
from cargohold.services.accounts.oidc_policies import policies_by_id
from cargohold.services.accounts.tokens import Token, check_token, get_token
from cargohold.services.errors import Forbidden, NotFound, Unauthenticated


@dataclass(frozen=True, slots=True)
class FederatedGrant:
    """What one trust policy grants: a role on a repository, or on every repository of
    a workspace (`repository_id` None)."""

    policy_id: str
    workspace_id: int
    repository_id: int | None
    role: Role

    def covers(self, repository_id: int | None, workspace_id: int | None) -> bool:
        if self.repository_id is not None:
            return self.repository_id == repository_id
        return self.workspace_id == workspace_id


@dataclass(frozen=True, slots=True)
class Federation:
    """A pipeline logged in with an ID token: who its provider says it is, and what the
    trust policies its token matched grant, for at most `lifetime` seconds."""

    issuer: str
    subject: str
    label: str  # for people: the pipeline's repository, branch and run
    grants: tuple[FederatedGrant, ...]
    lifetime: int

    def role_on(self, repository_id: int | None, workspace_id: int | None) -> Role:
        return max(
            (g.role for g in self.grants if g.covers(repository_id, workspace_id)),
            default=Role.NONE,
        )


@dataclass(frozen=True, slots=True)
class Principal:
    user: User | None = None
    token: Token | None = None
    federation: Federation | None = None

    @property
    def anonymous(self) -> bool:
        return self.user is None and self.token is None and self.federation is None

    @property
    def robot(self) -> bool:
        if self.federation is not None:
            return True
        return self.token is not None and self.token.kind != "personal"

    @property
    def ceiling(self) -> Role:
        return self.token.ceiling if self.token is not None else Role.ADMIN

    @property
    def display(self) -> str | None:
        """Who this is, for people to read: an email, or an access token's name."""
        if self.federation is not None:
            return f"{self.federation.label} (OpenID Connect)"
        if self.robot:
            assert self.token is not None
            return f"{self.token.name} ({self.token.kind} access token)"
        return self.user.email if self.user is not None else None

    @property
    def subject(self) -> str:
        if self.federation is not None:
            ids = sorted({g.policy_id for g in self.federation.grants})
            return OIDC_SUBJECT + ".".join(ids[:SUBJECT_POLICIES])
        if self.robot:
            assert self.token is not None
            return f"robot:{self.token.id}"
        if self.user is not None:
            suffix = f":{self.token.id}" if self.token is not None else ""
            return f"user:{self.user.id}{suffix}"
        return "anonymous"


ANONYMOUS = Principal()
OIDC_SUBJECT = "oidc:"  # then the ids of the trust policies, joined by dots
SUBJECT_POLICIES = 7  # at most this many (a subject fits in 100 characters)

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
    if principal.federation is not None:
        granted = principal.federation.role_on(row["repository_id"], row["workspace_id"])
        return max(granted, public)
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


# Whether the principal may read repository `r` (and so pull its packages); takes the
# parameters `reader_params` makes. Token scopes never matter here: every token may read.
CAN_READ = """(
  r.is_public OR :admin
  OR :robot_repos LIKE '%,' || CAST(r.id AS TEXT) || ',%'
  OR :robot_spaces LIKE '%,' || CAST(r.workspace_id AS TEXT) || ',%'
  OR EXISTS (SELECT 1 FROM workspace_members wm WHERE wm.workspace_id = r.workspace_id
     AND wm.user_id = :u AND wm.is_owner)
  OR EXISTS (SELECT 1 FROM project_grants pg WHERE pg.project_id = r.project_id
     AND pg.user_id = :u)
  OR EXISTS (SELECT 1 FROM repository_grants rg WHERE rg.repository_id = r.id
     AND rg.user_id = :u)
)"""
_READABLE = f"""
SELECT p.name FROM packages p
JOIN package_links pl ON pl.package_id = p.id
JOIN repositories r ON r.id = pl.repository_id
WHERE p.name > :last AND {CAN_READ}
ORDER BY p.name LIMIT :n
"""


def reader_params(principal: Principal) -> dict[str, Any]:
    """The parameters of `CAN_READ` for a principal. A robot reads one repository or one
    workspace; a pipeline every repository and workspace its policies grant (both as
    comma-delimited lists of ids, ",4,9,")."""
    repos: list[int] = []
    spaces: list[int] = []
    federation = principal.federation
    token = principal.token
    robot = principal.robot and token is not None
    if federation is not None:
        repos = [g.repository_id for g in federation.grants if g.repository_id is not None]
        spaces = [g.workspace_id for g in federation.grants if g.repository_id is None]
    elif robot and token is not None:
        if token.repository_id:
            repos = [token.repository_id]
        if token.kind == "workspace" and token.workspace_id:
            spaces = [token.workspace_id]
    person = federation is None and principal.user is not None and not robot
    return {
        "admin": bool(person and principal.user is not None and principal.user.is_admin),
        "u": principal.user.id if person and principal.user is not None else -1,
        "robot_repos": _id_list(repos),
        "robot_spaces": _id_list(spaces),
    }


def _id_list(ids: list[int]) -> str:
    return "," + "".join(f"{i}," for i in ids)


async def readable_packages(
    db: Queries, principal: Principal, *, limit: int, last: str | None
) -> tuple[list[str], bool]:
    """Names of the packages the principal may pull, in lexical order after `last`."""
    params = {"last": last or "", "n": limit + 1, **reader_params(principal)}
    rows = await db.fetchall(_READABLE, params)
    names = [row["name"] for row in rows]
    return names[:limit], len(names) > limit


async def principal_for_subject(db: Queries, subject: str) -> Principal:
    """Rebuild the principal a registry token was issued to (for the catalog, not hot paths)."""
    kind, _, rest = subject.partition(":")
    try:
        if kind == "oidc":
            return await _federated(db, rest.split("."))
        if kind == "robot":
            return Principal(token=await get_token(db, rest))
        if kind == "user":
            user_id, _, token_id = rest.partition(":")
            token = await get_token(db, token_id) if token_id else None
            return Principal(user=await get_user(db, int(user_id)), token=token)
    except (NotFound, ValueError):
        pass
    return ANONYMOUS


async def _federated(db: Queries, policy_ids: list[str]) -> Principal:
    """A pipeline's principal again, from the policies its registry token names (those
    that still exist)."""
    policies = await policies_by_id(db, policy_ids)
    if not policies:
        return ANONYMOUS
    grants = tuple(FederatedGrant(p.id, p.workspace_id, p.repository_id, p.role) for p in policies)
    federation = Federation(
        policies[0].issuer, "", "a pipeline", grants, min(p.lifetime for p in policies)
    )
    return Principal(federation=federation)


# Checks for the management use cases. Each raises the error the caller should see:
# Unauthenticated without credentials, NotFound for what the principal may not even
# see (exactly as if it did not exist), Forbidden for what they see but may not do.

ROLE_COLUMNS = _ROLES  # owner_role, project_role, repository_role of repository `r` for :u
SCOPE_FOR_ROLE = {role: scope for scope, role in SCOPES.items()}


def role_of(principal: Principal, row: Any) -> Role:
    """The principal's role from a row with `repository_id`, `workspace_id`, `is_public`
    and the `ROLE_COLUMNS`."""
    return _role_from_row(principal, row)


async def principal_for_token(db: Queries, text: str, *, now: float) -> Principal | None:
    """The principal an API or access token's secret text stands for, if it is usable."""
    token = await check_token(db, text, now=now)
    if token is None:
        return None
    if token.kind != "personal":
        return Principal(token=token)
    assert token.user_id is not None
    return Principal(user=await get_user(db, token.user_id), token=token)


def require_person(principal: Principal, *, change: bool = False) -> User:
    """The person asking; robots may not manage accounts, and changes need admin:package."""
    if principal.anonymous:
        raise Unauthenticated("sign in with an API token")
    if principal.robot or principal.user is None:
        raise Forbidden(
            "access tokens act on packages only; manage accounts with a personal API token"
        )
    if change and principal.ceiling < Role.ADMIN:
        raise Forbidden(
            "changing workspaces, members, projects, repositories, grants or tokens needs a"
            f" token with the admin:package scope; this one has {_scopes(principal)}"
        )
    return principal.user


def _require_credentials(principal: Principal, need: Role) -> None:
    """Anonymous callers may read public things; anything more needs a token."""
    if need > Role.READ and principal.anonymous:
        raise Unauthenticated("sign in with an API token")


def _scopes(principal: Principal) -> str:
    return " ".join(sorted(principal.token.scopes)) if principal.token else "every scope"


def refusal(principal: Principal, role: Role, need: Role, what: str) -> Forbidden:
    """Forbidden, saying whether the role or the token's scopes fall short."""
    if principal.token is not None and principal.ceiling < need:
        return Forbidden(
            f"this token's scopes ({_scopes(principal)}) allow at most"
            f" {principal.ceiling.label} on {what}; this needs {need.label}"
            f" ({SCOPE_FOR_ROLE[need]})"
        )
    return Forbidden(
        f"your {role.label} access to {what} does not allow this; it needs {need.label}"
    )


@dataclass(frozen=True, slots=True)
class Membership:
    workspace_id: int
    member: bool
    owner: bool


async def membership(db: Queries, principal: Principal, workspace_id: int) -> Membership:
    """Whether a person belongs to a workspace; site admins count as owners everywhere."""
    user = principal.user
    if user is None or principal.robot:
        return Membership(workspace_id, False, False)
    if user.is_admin:
        return Membership(workspace_id, True, True)
    row = await db.fetchone(
        "SELECT is_owner FROM workspace_members WHERE workspace_id = :w AND user_id = :u",
        {"w": workspace_id, "u": user.id},
    )
    return Membership(workspace_id, row is not None, bool(row is not None and row["is_owner"]))


async def require_workspace(
    db: Queries, principal: Principal, slug: str, *, owner: bool = False, change: bool = False
) -> Membership:
    """A workspace the person belongs to (as an owner, with `owner`); others get NotFound."""
    require_person(principal, change=change)
    found = await db.fetchone("SELECT id FROM workspaces WHERE slug = :s", {"s": slug})
    seen = None if found is None else await membership(db, principal, int(found["id"]))
    if seen is None or not seen.member:
        raise NotFound(f"no workspace {slug[:80]!r}")
    if owner and not seen.owner:
        raise Forbidden(f"only owners of workspace {slug} may do this")
    return seen


async def require_repository(
    db: Queries, principal: Principal, full_name: str, need: Role
) -> tuple[Repository, Role]:
    """A repository and the principal's role on it: NotFound unless they may read it."""
    _require_credentials(principal, need)
    try:
        repository = await find_repository(db, full_name)
    except NotFound:
        repository = None
    role = Role.NONE if repository is None else await repository_role(db, principal, repository)
    if repository is None or role < Role.READ:
        raise NotFound(f"no repository {full_name[:100]!r}")
    if role < need:
        raise refusal(principal, role, need, f"repository {repository.full_name}")
    return repository, role


async def require_package(db: Queries, principal: Principal, name: str, need: Role) -> Role:
    """The principal's role on a package: NotFound unless they may pull it."""
    _require_credentials(principal, need)
    found = await package_access(db, principal, name)
    if not found.exists or found.role < Role.READ:
        raise NotFound(f"no package {name[:256]!r}")
    if found.role < need:
        raise refusal(principal, found.role, need, f"package {name}")
    return found.role
