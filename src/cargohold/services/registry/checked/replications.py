"""Replication rules as people manage them (docs/replication.md): a workspace's owners
manage all its rules; an admin of a package manages the rules of exactly that package.
Every operation needs a person (never an access token) whose token has `admin:package`,
reading too, since a rule's remote and status are an admin's business.

Nobody else sees a rule: one you may not manage is 404, as if it did not exist; a workspace
you are no member of and manage nothing in is 404 as well (package_scoped.py, shared with
webhooks).

Creating a rule, or changing its URL, resolves the remote's host and refuses a target the
forgery guard refuses (services/outbound.py); that lookup runs between two transactions.
"""

from __future__ import annotations

from cargohold.metadata.db import Queries
from cargohold.services import outbound
from cargohold.services.accounts.principals import Principal
from cargohold.services.context import Context
from cargohold.services.errors import Invalid
from cargohold.services.registry.checked import package_scoped
from cargohold.services.registry.checked.package_scoped import Standing
from cargohold.services.registry.replication import jobs, remotes, rules
from cargohold.services.registry.replication.jobs import Job
from cargohold.services.registry.replication.rules import Replication


async def _require_manage(db: Queries, principal: Principal, ws: Standing, package: str) -> None:
    await package_scoped.require_manage(
        db,
        principal,
        ws,
        package,
        owners_only=f"only owners of workspace {ws.slug} may replicate the whole workspace; a"
        " package's admins may replicate that package",
        needs_admin="replication needs admin",
    )


async def _replication(
    db: Queries, principal: Principal, slug: str, replication_id: int
) -> tuple[Standing, Replication]:
    return await package_scoped.find(
        db,
        principal,
        slug,
        get=lambda ws: rules.get_replication(db, workspace_id=ws.id, replication_id=replication_id),
        package_of=lambda rule: rule.package,
        what=f"replication {replication_id}",
    )


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
    ws = await package_scoped.standing(db, principal, slug)
    return await package_scoped.managed(
        db,
        principal,
        ws,
        await rules.list_replications(db, workspace_id=ws.id),
        package_of=lambda rule: rule.package,
        asked=lambda: rules.parse_package(ws.slug, package) if package else "",
    )


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
        ws = await package_scoped.standing(tx, principal, workspace)
        name = rules.parse_package(ws.slug, package)
        await _require_manage(tx, principal, ws, name)
    await _check_target(ctx, url)
    sealed = None
    if secret is not None:
        sealed = rules.seal_password(ctx, secret)
    async with ctx.db.transaction() as tx:
        ws = await package_scoped.standing(tx, principal, workspace)
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
