"""People, workspaces, projects and source repositories, and the grants between them."""

from __future__ import annotations

import functools
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cargohold.authz.roles import Role
from cargohold.metadata.db import IntegrityError, Queries, Row
from cargohold.services.errors import Conflict, Invalid, NotFound
from cargohold.services.events import outbox

_HASHER = PasswordHasher()


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


_REPO_SLUG = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")


_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,31}")


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    display_name: str
    is_admin: bool


@dataclass(frozen=True, slots=True)
class Repository:
    id: int
    workspace_id: int
    workspace: str
    slug: str
    project_id: int
    is_public: bool

    @property
    def full_name(self) -> str:
        return f"{self.workspace}/{self.slug}"


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 320 or not _EMAIL.fullmatch(email):
        raise Invalid(f"{email[:80]!r} is not an email address")
    return email


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise Invalid("a password needs at least 8 characters")
    return _HASHER.hash(password)


@functools.cache
def _dummy_hash() -> str:
    """A hash of a secret nobody knows, made once with the parameters of real ones."""
    return _HASHER.hash(secrets.token_urlsafe(32))


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether `password` is the one `password_hash` was made from.

    One argon2 verification: a few hundred milliseconds of CPU, so call it off the event
    loop. Without a hash (no such person, or no password) it verifies against a dummy
    hash instead, which takes as long: the time taken does not tell whether an account
    exists."""
    try:
        return _HASHER.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def _user(row: Row) -> User:
    return User(int(row["id"]), row["email"], row["display_name"], bool(row["is_admin"]))


async def create_user(
    db: Queries,
    *,
    email: str,
    display_name: str | None = None,
    password: str | None = None,
    password_hash: str | None = None,
    is_admin: bool = False,
    now: float,
) -> User:
    """A new account; its password given as such, or already hashed (`hash_password`, off
    the event loop: a few hundred milliseconds of CPU)."""
    email = normalise_email(email)
    try:
        await db.execute(
            "INSERT INTO users (email, display_name, password_hash, is_admin, created_at)"
            " VALUES (:email, :name, :hash, :admin, :now)",
            {
                "email": email,
                "name": display_name or email.split("@")[0],
                "hash": password_hash or (hash_password(password) if password else None),
                "admin": is_admin,
                "now": now,
            },
        )
    except IntegrityError:
        raise Conflict(f"a user with email {email} already exists") from None
    await outbox.record(
        db, "user.created", target=email, data={"email": email, "admin": is_admin}, at=now
    )
    return await find_user(db, email)


async def find_user(db: Queries, email: str) -> User:
    row = await db.fetchone(
        "SELECT id, email, display_name, is_admin FROM users WHERE email = :email",
        {"email": email.strip().lower()},
    )
    if row is None:
        raise NotFound(f"no user with email {email[:80]!r}")
    return _user(row)


async def get_user(db: Queries, user_id: int) -> User:
    row = await db.fetchone(
        "SELECT id, email, display_name, is_admin FROM users WHERE id = :id", {"id": user_id}
    )
    if row is None:
        raise NotFound(f"no user with id {user_id}")
    return _user(row)


async def find_password_hash(db: Queries, email: str) -> tuple[User | None, str | None]:
    """The person with this email and their password hash, for checking a password with
    `password_matches` (off the event loop); (None, None) when there is no such person."""
    row = await db.fetchone(
        "SELECT id, email, display_name, is_admin, password_hash FROM users WHERE email = :e",
        {"e": email.strip().lower()},
    )
    if row is None:
        return None, None
    return _user(row), row["password_hash"]


async def set_password(
    db: Queries, *, user: User, password: str | None, password_hash: str | None = None
) -> int:
    """Set a person's password (None removes it), or its hash made beforehand. Whoever
    signed in with the old one is signed out: every session and refresh token of the person
    ends. Returns how many."""
    from cargohold.services.accounts.sessions import end_sessions  # sessions uses User

    await db.execute(
        "UPDATE users SET password_hash = :hash WHERE id = :id",
        {"hash": password_hash or (hash_password(password) if password else None), "id": user.id},
    )
    removed = password is None and password_hash is None
    ended = await end_sessions(db, user_id=user.id)
    await outbox.record(
        db,
        "user.password_changed",
        target=user.email,
        data={"email": user.email, "removed": removed, "sessions_ended": ended},
    )
    return ended


async def count_users(db: Queries) -> int:
    row = await db.fetchone("SELECT COUNT(*) AS n FROM users")
    return int(row["n"]) if row else 0


async def create_workspace(
    db: Queries, *, slug: str, owner: User, name: str | None = None, now: float
) -> int:
    if not _SLUG.fullmatch(slug):
        raise Invalid(
            f"invalid workspace {slug[:80]!r}: use lowercase letters, digits and -, starting"
            " with a letter or digit"
        )
    try:
        await db.execute(
            "INSERT INTO workspaces (slug, name, create_on_push, created_at)"
            " VALUES (:slug, :name, :cop, :now)",
            {"slug": slug, "name": name or slug, "cop": False, "now": now},
        )
    except IntegrityError:
        raise Conflict(f"workspace {slug} already exists") from None
    await outbox.record(
        db,
        "workspace.created",
        workspace=slug,
        target=slug,
        data={"name": name or slug, "owner": owner.email},
        at=now,
    )
    workspace_id = await find_workspace(db, slug)
    await set_member(db, workspace_id=workspace_id, user=owner, owner=True)
    return workspace_id


async def find_workspace(db: Queries, slug: str) -> int:
    row = await db.fetchone("SELECT id FROM workspaces WHERE slug = :s", {"s": slug})
    if row is None:
        raise NotFound(f"no workspace {slug[:80]!r}")
    return int(row["id"])


async def _slug(db: Queries, workspace_id: int) -> str | None:
    row = await db.fetchone("SELECT slug FROM workspaces WHERE id = :w", {"w": workspace_id})
    return None if row is None else str(row["slug"])


async def set_member(db: Queries, *, workspace_id: int, user: User, owner: bool) -> None:
    """Add a person to a workspace, or change whether they own it (`member.added`,
    `member.changed`; nothing is recorded when nothing changes)."""
    before = await db.fetchone(
        "SELECT is_owner FROM workspace_members WHERE workspace_id = :w AND user_id = :u",
        {"w": workspace_id, "u": user.id},
    )
    await db.execute(
        "INSERT INTO workspace_members (workspace_id, user_id, is_owner) VALUES (:w, :u, :o)"
        " ON CONFLICT (workspace_id, user_id) DO UPDATE SET is_owner = excluded.is_owner",
        {"w": workspace_id, "u": user.id, "o": owner},
    )
    if before is not None and bool(before["is_owner"]) == owner:
        return
    slug = await _slug(db, workspace_id)
    await outbox.record(
        db,
        "member.added" if before is None else "member.changed",
        workspace=slug,
        target=f"{user.email} in {slug}, as {'owner' if owner else 'member'}",
        data={"email": user.email, "owner": owner},
    )


async def record_member_removed(db: Queries, *, workspace: str, user: User) -> None:
    await outbox.record(
        db,
        "member.removed",
        workspace=workspace,
        target=f"{user.email} from {workspace}",
        data={"email": user.email},
    )


async def set_create_on_push(db: Queries, *, workspace_id: int, enabled: bool) -> None:
    row = await db.fetchone(
        "SELECT slug, create_on_push FROM workspaces WHERE id = :w", {"w": workspace_id}
    )
    await db.execute(
        "UPDATE workspaces SET create_on_push = :v WHERE id = :w",
        {"v": enabled, "w": workspace_id},
    )
    if row is not None and bool(row["create_on_push"]) != enabled:
        await outbox.record(
            db,
            "settings.changed",
            workspace=row["slug"],
            target=f"create on push in {row['slug']}: {'on' if enabled else 'off'}",
            data={"setting": "create_on_push", "from": not enabled, "to": enabled},
        )


async def create_project(
    db: Queries, *, workspace: str, key: str, name: str | None = None, now: float
) -> int:
    if not _KEY.fullmatch(key):
        raise Invalid(f"invalid project key {key[:40]!r}: use A-Z, 0-9 and _, e.g. PLAT")
    workspace_id = await find_workspace(db, workspace)
    try:
        await db.execute(
            "INSERT INTO projects (workspace_id, key, name, created_at) VALUES (:w, :k, :n, :now)",
            {"w": workspace_id, "k": key, "n": name or key, "now": now},
        )
    except IntegrityError:
        raise Conflict(f"project {key} already exists in {workspace}") from None
    await outbox.record(
        db,
        "project.created",
        workspace=workspace,
        target=f"project {key} of {workspace}",
        data={"key": key, "name": name or key},
        at=now,
    )
    return await find_project(db, workspace_id=workspace_id, key=key)


async def find_project(db: Queries, *, workspace_id: int, key: str) -> int:
    row = await db.fetchone(
        "SELECT id FROM projects WHERE workspace_id = :w AND key = :k",
        {"w": workspace_id, "k": key},
    )
    if row is None:
        raise NotFound(f"no project {key[:40]!r} in this workspace")
    return int(row["id"])


async def rename_project(db: Queries, *, project_id: int, name: str) -> None:
    """Give a project another name (`project.renamed`); its key stays."""
    name = name.strip()
    if not name or len(name) > 200:
        raise Invalid("a project name is 1 to 200 characters")
    row = await db.fetchone(
        "SELECT p.name, p.key, w.slug FROM projects p JOIN workspaces w ON w.id = p.workspace_id"
        " WHERE p.id = :p",
        {"p": project_id},
    )
    if row is None:
        raise NotFound("no such project")
    if row["name"] == name:
        return
    await db.execute("UPDATE projects SET name = :n WHERE id = :p", {"n": name, "p": project_id})
    await outbox.record(
        db,
        "project.renamed",
        workspace=row["slug"],
        target=f"project {row['key']} of {row['slug']}: named {name}",
        data={"key": row["key"], "name": {"from": row["name"], "to": name}},
    )


def split_full_name(full_name: str) -> tuple[str, str]:
    workspace, _, slug = full_name.partition("/")
    if not workspace or not slug:
        raise Invalid(f"{full_name[:100]!r} is not WORKSPACE/REPO")
    return workspace, slug


def _check_repository_slug(slug: str) -> None:
    if not _REPO_SLUG.fullmatch(slug) or len(slug) > 128:
        raise Invalid(f"invalid repository slug {slug[:80]!r}: use a-z, 0-9, . _ -")


async def create_repository(
    db: Queries, *, full_name: str, project_key: str, public: bool = False, now: float
) -> Repository:
    workspace, slug = split_full_name(full_name)
    _check_repository_slug(slug)
    workspace_id = await find_workspace(db, workspace)
    project_id = await find_project(db, workspace_id=workspace_id, key=project_key)
    try:
        await db.execute(
            "INSERT INTO repositories (workspace_id, project_id, slug, is_public, created_at)"
            " VALUES (:w, :p, :s, :pub, :now)",
            {"w": workspace_id, "p": project_id, "s": slug, "pub": public, "now": now},
        )
    except IntegrityError:
        raise Conflict(f"repository {full_name} already exists") from None
    await outbox.record(
        db,
        "repository.created",
        repository=full_name,
        target=full_name,
        data={"project": project_key, "public": public},
        at=now,
    )
    return await find_repository(db, full_name)


async def find_repository(db: Queries, full_name: str) -> Repository:
    workspace, slug = split_full_name(full_name)
    row = await db.fetchone(
        "SELECT r.id, r.workspace_id, r.slug, r.project_id, r.is_public FROM repositories r"
        " JOIN workspaces w ON w.id = r.workspace_id WHERE w.slug = :w AND r.slug = :s",
        {"w": workspace, "s": slug},
    )
    if row is None:
        raise NotFound(f"no repository {full_name[:100]!r}")
    return Repository(
        int(row["id"]),
        int(row["workspace_id"]),
        workspace,
        row["slug"],
        int(row["project_id"]),
        bool(row["is_public"]),
    )


async def rename_repository(db: Queries, *, repository: Repository, slug: str) -> Repository:
    """Give a repository another slug (`repository.renamed`). Packages, grants, access
    tokens and trust policies name it by id, so they follow; package names do not hold
    the repository's slug and stay as they are."""
    _check_repository_slug(slug)
    if slug == repository.slug:
        return repository
    try:
        await db.execute(
            "UPDATE repositories SET slug = :s WHERE id = :id", {"s": slug, "id": repository.id}
        )
    except IntegrityError:
        raise Conflict(f"repository {repository.workspace}/{slug} already exists") from None
    renamed = f"{repository.workspace}/{slug}"
    await outbox.record(
        db,
        "repository.renamed",
        repository=renamed,
        target=f"{repository.full_name}: renamed {renamed}",
        data={"slug": {"from": repository.slug, "to": slug}},
    )
    return await find_repository(db, renamed)


async def set_repository_visibility(db: Queries, *, repository: Repository, public: bool) -> None:
    await db.execute(
        "UPDATE repositories SET is_public = :p WHERE id = :id",
        {"p": public, "id": repository.id},
    )
    if repository.is_public != public:
        await outbox.record(
            db,
            "repository.visibility_changed",
            repository=repository.full_name,
            target=f"{repository.full_name}: {'public' if public else 'private'}",
            data={"public": public},
        )


async def grant_repository(db: Queries, *, repository: Repository, user: User, role: Role) -> None:
    await _grant(db, "repository_grants", "repository_id", repository.id, user, role)


async def grant_project(db: Queries, *, project_id: int, user: User, role: Role) -> None:
    await _grant(db, "project_grants", "project_id", project_id, user, role)


async def _grant(db: Queries, table: str, column: str, target: int, user: User, role: Role) -> None:
    if role == Role.NONE:
        removed = await db.execute(
            f"DELETE FROM {table} WHERE {column} = :t AND user_id = :u",
            {"t": target, "u": user.id},
        )
        if removed:
            await _record_grant(db, table, target, user, None)
        return
    before = await db.fetchone(
        f"SELECT role FROM {table} WHERE {column} = :t AND user_id = :u",
        {"t": target, "u": user.id},
    )
    await db.execute(
        f"INSERT INTO {table} ({column}, user_id, role) VALUES (:t, :u, :r)"
        f" ON CONFLICT ({column}, user_id) DO UPDATE SET role = excluded.role",
        {"t": target, "u": user.id, "r": int(role)},
    )
    if before is None or int(before["role"]) != int(role):
        was = None if before is None else Role(int(before["role"]))
        await _record_grant(db, table, target, user, role, was)


async def _record_grant(
    db: Queries, table: str, target: int, user: User, role: Role | None, was: Role | None = None
) -> None:
    """`grant.changed` (a role given or changed) or `grant.removed`, on a project or a
    repository (`table` is ours, never input)."""
    if table == "project_grants":
        row = await db.fetchone(
            "SELECT w.slug AS workspace, p.key AS name FROM projects p"
            " JOIN workspaces w ON w.id = p.workspace_id WHERE p.id = :t",
            {"t": target},
        )
        workspace, repository = (row["workspace"] if row else None), None
        label = f"project {row['name']} of {row['workspace']}" if row else "a project"
    else:
        row = await db.fetchone(
            "SELECT w.slug AS workspace, r.slug AS name FROM repositories r"
            " JOIN workspaces w ON w.id = r.workspace_id WHERE r.id = :t",
            {"t": target},
        )
        full_name = f"{row['workspace']}/{row['name']}" if row else None
        workspace, repository = None, full_name
        label = full_name or "a repository"
    data = {"email": user.email, "role": role.label if role else None}
    if role is not None:
        data["from"] = was.label if was else None
    await outbox.record(
        db,
        "grant.changed" if role is not None else "grant.removed",
        target=f"{user.email} on {label}" + (f": {role.label}" if role else ""),
        data=data,
        workspace=workspace,
        repository=repository,
    )


@dataclass(frozen=True, slots=True)
class RoleGrant:
    user: User
    role: Role


def user_of_row(row: Row) -> User:
    return User(int(row["user_id"]), row["email"], row["display_name"], bool(row["is_admin"]))


_GRANTS = """
SELECT u.id AS user_id, u.email, u.display_name, u.is_admin, g.role
FROM {table} g JOIN users u ON u.id = g.user_id
WHERE g.{column} = :t ORDER BY u.email
"""


async def grants(db: Queries, table: str, column: str, target: int) -> list[RoleGrant]:
    """The grants on a project or repository (`table` and `column` are ours, never input)."""
    rows = await db.fetchall(_GRANTS.format(table=table, column=column), {"t": target})
    return [RoleGrant(user_of_row(row), Role(int(row["role"]))) for row in rows]


async def drop_grant(db: Queries, table: str, column: str, target: int, user: User) -> None:
    """Remove a person's grant on a project or repository; NotFound when there is none."""
    removed = await db.execute(
        f"DELETE FROM {table} WHERE {column} = :t AND user_id = :u", {"t": target, "u": user.id}
    )
    if not removed:
        raise NotFound(f"{user.email} has no grant here")
    await _record_grant(db, table, target, user, None)


def granted_role(role: Role) -> Role:
    if role == Role.NONE:
        raise Invalid("grant read, write or admin; remove a grant with DELETE")
    return role
