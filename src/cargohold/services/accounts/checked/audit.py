"""The audit log as people read it: a workspace's owners read its log, site admins read
every log and the site's own (sign-ins, people, anything outside a workspace). Access
tokens read none. Nothing here, or anywhere, changes or deletes an entry."""

from __future__ import annotations

from cargohold.metadata.db import Queries
from cargohold.services.accounts.principals import Principal, require_person, require_workspace
from cargohold.services.errors import Forbidden
from cargohold.services.events import audit
from cargohold.services.events.audit import Event, Filters


async def workspace_log(
    db: Queries,
    principal: Principal,
    slug: str,
    *,
    filters: Filters,
    limit: int,
    after: int | None = None,
) -> tuple[list[Event], int | None]:
    """A workspace's events, newest first, for its owners (and site admins); members who
    do not own it get Forbidden, everyone else NotFound."""
    await require_workspace(db, principal, slug, owner=True)
    return await audit.list_events(db, workspace=slug, filters=filters, limit=limit, after=after)


async def site_log(
    db: Queries, principal: Principal, *, filters: Filters, limit: int, after: int | None = None
) -> tuple[list[Event], int | None]:
    """Every event of the site, newest first, for site admins."""
    user = require_person(principal)
    if not user.is_admin:
        raise Forbidden("only site admins may read the whole audit log")
    return await audit.list_events(db, workspace=None, filters=filters, limit=limit, after=after)
