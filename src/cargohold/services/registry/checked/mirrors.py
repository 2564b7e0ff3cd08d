"""Mirrors as people manage them (docs/mirror.md): a workspace's owners (and site admins)
create, change and delete them; its members list and show them. Nobody else sees one: a
workspace you are no member of is 404. Changing needs a person, never an access token.

The password is taken once, sealed, and never shown again (`has_password` says whether one
is kept). Creating a mirror, or changing its upstream, resolves the upstream's host through
the forgery guard between two transactions, never inside one.
"""

from __future__ import annotations

from typing import Any

from cargohold.authz.roles import Role
from cargohold.metadata.db import Queries
from cargohold.services.accounts.principals import Principal, require_package, require_workspace
from cargohold.services.context import Context
from cargohold.services.errors import Invalid
from cargohold.services.registry import mirrors
from cargohold.services.registry.mirrors import Mirror

_UNSET: Any = object()


def _check_credentials(username: str | None, password: str | None) -> None:
    if (username is None) != (password is None):
        raise Invalid("give both a username and a password for the upstream, or neither")
    if username is not None and (not username or len(username) > 320 or ":" in username):
        raise Invalid("the username must be 1 to 320 characters without a colon")
    if password is not None and not 0 < len(password) <= 4096:
        raise Invalid("the password must be 1 to 4096 characters")


def _check_ttl(tag_ttl: int) -> int:
    if not 0 <= tag_ttl <= mirrors.MAX_TTL:
        raise Invalid(f"tag_ttl must be 0 to {mirrors.MAX_TTL} seconds")
    return tag_ttl


async def list_mirrors(db: Queries, principal: Principal, workspace: str) -> list[Mirror]:
    await require_workspace(db, principal, workspace)
    return await mirrors.list_mirrors(db, workspace=workspace)


async def show_mirror(db: Queries, principal: Principal, workspace: str, prefix: str) -> Mirror:
    await require_workspace(db, principal, workspace)
    return (await mirrors.get_mirror(db, workspace=workspace, prefix=prefix)).mirror


async def create_mirror(
    ctx: Context,
    principal: Principal,
    *,
    workspace: str,
    prefix: str,
    upstream: str,
    username: str | None = None,
    password: str | None = None,
    repository: str | None = None,
    tag_ttl: int | None = None,
) -> Mirror:
    """A new mirror `WORKSPACE/PREFIX` of `upstream` (owners)."""
    async with ctx.db.transaction() as tx:
        await require_workspace(tx, principal, workspace, owner=True, change=True)
    mirrors.check_prefix(prefix)
    url = mirrors.check_upstream(upstream, ctx.settings)
    _check_credentials(username, password)
    ttl = _check_ttl(ctx.settings.mirror_tag_ttl if tag_ttl is None else tag_ttl)
    if repository is not None and "/" in repository:
        owner, _, repository = repository.partition("/")
        if owner != workspace:
            raise Invalid(f"the repository must be one of workspace {workspace}")
    await mirrors.check_reachable(ctx.settings, url)
    sealed = None if password is None else mirrors.seal_password(ctx, password)
    now = ctx.now()
    async with ctx.db.transaction() as tx:
        seen = await require_workspace(tx, principal, workspace, owner=True, change=True)
        linked = await mirrors.mirror_repository(
            tx, workspace=workspace, slug=repository, prefix=prefix, now=now
        )
        return await mirrors.create_mirror(
            tx,
            workspace_id=seen.workspace_id,
            workspace=workspace,
            prefix=prefix,
            upstream=url,
            username=username,
            sealed_password=sealed,
            repository=linked,
            tag_ttl=ttl,
            created_by=principal.display,
            now=now,
        )


async def update_mirror(
    ctx: Context,
    principal: Principal,
    *,
    workspace: str,
    prefix: str,
    upstream: str | None = None,
    username: str | None = _UNSET,
    password: str | None = _UNSET,
    tag_ttl: int | None = None,
) -> Mirror:
    """Change what is given (owners); a username of None drops the credentials."""
    async with ctx.db.transaction() as tx:
        await require_workspace(tx, principal, workspace, owner=True, change=True)
        current = (await mirrors.get_mirror(tx, workspace=workspace, prefix=prefix)).mirror
    changes: dict[str, Any] = {}
    if upstream is not None:
        changes["upstream"] = mirrors.check_upstream(upstream, ctx.settings)
        await mirrors.check_reachable(ctx.settings, changes["upstream"])
    if username is not _UNSET or password is not _UNSET:
        user = current.username if username is _UNSET else username
        secret = None if password is _UNSET or user is None else password
        if user is not None and secret is None:
            raise Invalid("give the upstream's password with its username")
        _check_credentials(user, secret)
        changes["username"] = user
        changes["password"] = None if secret is None else mirrors.seal_password(ctx, secret)
    if tag_ttl is not None:
        changes["tag_ttl"] = _check_ttl(tag_ttl)
    async with ctx.db.transaction() as tx:
        await require_workspace(tx, principal, workspace, owner=True, change=True)
        found = (await mirrors.get_mirror(tx, workspace=workspace, prefix=prefix)).mirror
        return await mirrors.update_mirror(tx, mirror=found, changes=changes, now=ctx.now())


async def delete_mirror(
    db: Queries, principal: Principal, workspace: str, prefix: str, *, now: float
) -> None:
    await require_workspace(db, principal, workspace, owner=True, change=True)
    found = (await mirrors.get_mirror(db, workspace=workspace, prefix=prefix)).mirror
    await mirrors.delete_mirror(db, mirror=found, now=now)


async def origin(db: Queries, principal: Principal, name: str) -> Mirror | None:
    """The mirror a package the principal may read is mirrored from, if any."""
    await require_package(db, principal, name, Role.READ)
    found = await mirrors.find_for_name(db, name)
    return None if found is None else found.mirror
