"""Who manages what a workspace holds for one package or for all of them (webhook
endpoints, replication rules): the workspace's owners manage every one; an admin of a
package manages those of exactly that package. Only a person (never an access token) whose
token allows changes manages anything, reading included.

Nobody else sees one: one you may not manage is 404, as if it did not exist; a workspace
you are no member of and manage nothing in is 404 as well.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from cargohold.authz.roles import Role
from cargohold.metadata.db import Queries
from cargohold.services.accounts.principals import (
    Principal,
    membership,
    package_access,
    require_person,
)
from cargohold.services.errors import Forbidden, NotFound

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Standing:
    """A workspace, and where the principal asking stands in it."""

    id: int
    slug: str
    owner: bool
    member: bool


def no_workspace(slug: str) -> NotFound:
    return NotFound(f"no workspace {slug[:80]!r}")


async def standing(db: Queries, principal: Principal, slug: str) -> Standing:
    """The workspace `slug` (NotFound), for a person who may change things (Forbidden)."""
    require_person(principal, change=True)
    row = await db.fetchone("SELECT id, slug FROM workspaces WHERE slug = :s", {"s": slug})
    if row is None:
        raise no_workspace(slug)
    seen = await membership(db, principal, int(row["id"]))
    return Standing(int(row["id"]), row["slug"], seen.owner, seen.member)


async def package_role(db: Queries, principal: Principal, package: str) -> Role:
    """The principal's role on one package; none for "" (every package, or several)."""
    if not package:
        return Role.NONE
    return (await package_access(db, principal, package)).role


async def manages(db: Queries, principal: Principal, ws: Standing, package: str) -> bool:
    """May the principal manage what is kept for `package` ("": for several packages)?"""
    return ws.owner or await package_role(db, principal, package) >= Role.ADMIN


async def require_manage(
    db: Queries,
    principal: Principal,
    ws: Standing,
    package: str,
    *,
    owners_only: str,
    needs_admin: str,
) -> None:
    """May the principal make one for `package` ("": for several packages)? NotFound when
    it should not know the package (or the workspace) exists, else Forbidden, saying
    `owners_only` for several packages, or that `needs_admin` for one."""
    if ws.owner:
        return
    if not package:
        if not ws.member:
            raise NotFound(f"no workspace {ws.slug!r}")
        raise Forbidden(owners_only)
    role = await package_role(db, principal, package)
    if role < Role.READ:
        raise NotFound(f"no package {package[:256]!r}")
    if role < Role.ADMIN:
        raise Forbidden(
            f"your {role.label} access to package {package} does not allow this; {needs_admin}"
        )


async def find(
    db: Queries,
    principal: Principal,
    slug: str,
    *,
    get: Callable[[Standing], Awaitable[T]],
    package_of: Callable[[T], str],
    what: str,
) -> tuple[Standing, T]:
    """The workspace and the one `get` finds in it (NotFound), if the principal manages
    it; else NotFound "no `what`", or no workspace for one who is no member."""
    ws = await standing(db, principal, slug)
    try:
        found = await get(ws)
    except NotFound:
        raise _unseen(ws, slug, what) from None
    if not await manages(db, principal, ws, package_of(found)):
        raise _unseen(ws, slug, what)
    return ws, found


def _unseen(ws: Standing, slug: str, what: str) -> NotFound:
    return NotFound(f"no {what}") if ws.member else no_workspace(slug)


async def managed(
    db: Queries,
    principal: Principal,
    ws: Standing,
    found: Iterable[T],
    *,
    package_of: Callable[[T], str],
    asked: Callable[[], str],
) -> list[T]:
    """Those of `found` the principal manages. When none and it is no member of the
    workspace, NotFound unless it is an admin of the package `asked()` names (one it means
    to make one for: it sees the empty list)."""
    mine = [item for item in found if await manages(db, principal, ws, package_of(item))]
    if not mine and not ws.member:
        package = asked()
        if not package or await package_role(db, principal, package) < Role.ADMIN:
            raise no_workspace(ws.slug)
    return mine
