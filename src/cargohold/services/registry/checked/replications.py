"""Replication rules as people manage them (docs/replication.md): a workspace's owners
manage all its rules; an admin of a package manages the rules of exactly that package.
Every operation needs a person (never an access token) whose token has `admin:package`,
reading too, since a rule's remote and status are an admin's business.

Nobody else sees a rule: one you may not manage is 404, as if it did not exist; a workspace
you are no member of and manage nothing in is 404 as well.

Creating a rule, or changing its URL, resolves the remote's host and refuses a target the
forgery guard refuses (services/outbound.py); that lookup runs between two transactions.
"""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.authz.roles import Role
from cargohold.metadata.db import Queries
from cargohold.services import outbound
from cargohold.services.accounts.principals import (
    Principal,
    membership,
    package_access,
    require_person,
)
from cargohold.services.context import Context
from cargohold.services.errors import Forbidden, Invalid, NotFound
from cargohold.services.registry.replication import jobs, remotes, rules
from cargohold.services.registry.replication.jobs import Job
from cargohold.services.registry.replication.rules import Replication


@dataclass(frozen=True, slots=True)
class _Workspace:
    id: int
    slug: str
    owner: bool
    member: bool


async def _workspace(db: Queries, principal: Principal, slug: str) -> _Workspace:
    require_person(principal, change=True)
    row = await db.fetchone("SELECT id, slug FROM workspaces WHERE slug = :s", {"s": slug})
    if row is None:
        raise NotFound(f"no workspace {slug[:80]!r}")
    seen = await membership(db, principal, int(row["id"]))
    return _Workspace(int(row["id"]), row["slug"], seen.owner, seen.member)


async def _package_role(db: Queries, principal: Principal, package: str) -> Role:
    if not package:
        return Role.NONE
    return (await package_access(db, principal, package)).role


async def _manages(db: Queries, principal: Principal, ws: _Workspace, package: str) -> bool:
    return ws.owner or await _package_role(db, principal, package) >= Role.ADMIN


async def _require_manage(db: Queries, principal: Principal, ws: _Workspace, package: str) -> None:
    if ws.owner:
        return
    if not package:
        if not ws.member:
            raise NotFound(f"no workspace {ws.slug!r}")
        raise Forbidden(
            f"only owners of workspace {ws.slug} may replicate the whole workspace; a"
            " package's admins may replicate that package"
        )
    role = await _package_role(db, principal, package)
    if role < Role.READ:
        raise NotFound(f"no package {package[:256]!r}")
    if role < Role.ADMIN:
        raise Forbidden(
            f"your {role.label} access to package {package} does not allow this; replication"
            " needs admin"
        )


async def _replication(
    db: Queries, principal: Principal, slug: str, replication_id: int
) -> tuple[_Workspace, Replication]:
    ws = await _workspace(db, principal, slug)
    try:
        rule: Replication | None = await rules.get_replication(
            db, workspace_id=ws.id, replication_id=replication_id
        )
    except NotFound:
        rule = None
    if rule is None or not await _manages(db, principal, ws, rule.package):
        if not ws.member:
            raise NotFound(f"no workspace {slug[:80]!r}")
        raise NotFound(f"no replication {replication_id}")
    return ws, rule


async def _check_target(ctx: Context, url: str) -> None:
    """Where the URL leads must pass the forgery guard (outside any transaction)."""
    try:
        await remotes.check(url, ctx.settings)
    except outbound.OutboundError as exc:
        raise Invalid(f"remote URL {outbound.redact(url)}: {exc.message}") from None


async def list_replications(
    db: Queries, principal: Principal, slug: str, *, package: str | None = None
) -> list[Replication]:
    """The rules the principal manages: all of them for an owner. `package`: one the caller
    means to replicate, whose admins see the list even when they are no member."""
    ws = await _workspace(db, principal, slug)
    found = [
        rule
        for rule in await rules.list_replications(db, workspace_id=ws.id)
        if await _manages(db, principal, ws, rule.package)
    ]
    if not found and not ws.member:
        name = rules.parse_package(ws.slug, package) if package else ""
        if not name or await _package_role(db, principal, name) < Role.ADMIN:
            raise NotFound(f"no workspace {slug[:80]!r}")
    return found


async def show_replication(
    db: Queries, principal: Principal, slug: str, replication_id: int
) -> Replication:
    return (await _replication(db, principal, slug, replication_id))[1]


async def create_replication(
    ctx: Context,
    principal: Principal,
    *,
    workspace: str,
    package: str | None,
    url: str,
    username: str | None,
    password: str | None,
    prefix: str | None,
    active: bool = True,
) -> Replication:
    """A new rule: every push after it (to the package, or to the workspace) is copied."""
    url = rules.check_url(url)
    name_prefix = rules.parse_prefix(prefix)
    user, secret = rules.parse_credentials(username, password)
    async with ctx.db.transaction() as tx:
        ws = await _workspace(tx, principal, workspace)
        name = rules.parse_package(ws.slug, package)
        await _require_manage(tx, principal, ws, name)
    await _check_target(ctx, url)
    sealed = None
    if secret is not None:
        sealed = rules.seal_password(ctx, secret)
    async with ctx.db.transaction() as tx:
        ws = await _workspace(tx, principal, workspace)
        await _require_manage(tx, principal, ws, name)
        return await rules.create_replication(
            tx,
            workspace_id=ws.id,
            package=name,
            url=url,
            username=user,
            sealed=sealed,
            prefix=name_prefix,
            active=active,
            created_by=principal.display,
            now=ctx.now(),
        )


async def update_replication(
    ctx: Context,
    principal: Principal,
    *,
    workspace: str,
    replication_id: int,
    url: str | None = None,
    username: str | None = None,
    password: str | None = None,
    anonymous: bool = False,
    prefix: str | None = None,
    active: bool | None = None,
) -> Replication:
    """Change what is given; a new URL is checked as at creation. New credentials replace
    the old ones (`anonymous` drops them)."""
    url = rules.check_url(url) if url is not None else None
    name_prefix = rules.parse_prefix(prefix) if prefix is not None else None
    credentials: tuple[str | None, str | None] | None = None
    if anonymous:
        if username or password:
            raise Invalid("give credentials, or ask for anonymous access, not both")
        credentials = (None, None)
    elif username is not None or password is not None:
        user, secret = rules.parse_credentials(username, password)
        assert secret is not None
        credentials = (user, rules.seal_password(ctx, secret))
    async with ctx.db.transaction() as tx:
        _, rule = await _replication(tx, principal, workspace, replication_id)
    if url is not None and url != rule.url:
        await _check_target(ctx, url)
    async with ctx.db.transaction() as tx:
        _, rule = await _replication(tx, principal, workspace, replication_id)
        return await rules.update_replication(
            tx,
            rule,
            now=ctx.now(),
            url=url,
            credentials=credentials,
            prefix=name_prefix,
            active=active,
        )


async def delete_replication(
    db: Queries, principal: Principal, slug: str, replication_id: int, *, now: float
) -> None:
    _, rule = await _replication(db, principal, slug, replication_id)
    await rules.delete_replication(db, rule, now=now)


async def job_counts(
    db: Queries, principal: Principal, slug: str, replication_id: int
) -> dict[str, int]:
    _, rule = await _replication(db, principal, slug, replication_id)
    return await jobs.counts(db, replication_id=rule.id)


async def list_jobs(
    db: Queries,
    principal: Principal,
    slug: str,
    replication_id: int,
    *,
    limit: int,
    before: int | None = None,
    state: str | None = None,
) -> tuple[list[Job], int | None]:
    """The rule's jobs, newest first (paged by id)."""
    _, rule = await _replication(db, principal, slug, replication_id)
    return await jobs.list_jobs(db, replication_id=rule.id, limit=limit, before=before, state=state)


async def retry_job(
    db: Queries, principal: Principal, slug: str, replication_id: int, job_id: int, *, now: float
) -> Job:
    """A failed job is tried again, due now."""
    _, rule = await _replication(db, principal, slug, replication_id)
    found = await jobs.get_job(db, replication_id=rule.id, job_id=job_id)
    return await jobs.retry_job(db, found, now=now)
