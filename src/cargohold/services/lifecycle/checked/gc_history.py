"""Garbage collection history as site admins read it."""

from __future__ import annotations

from cargohold.metadata.db import Queries
from cargohold.services.accounts.principals import Principal
from cargohold.services.errors import Forbidden, Unauthenticated
from cargohold.services.lifecycle.gc_history import GcRun, recent


async def list_runs(
    db: Queries, principal: Principal, *, limit: int, before: int | None = None
) -> list[GcRun]:
    """The newest collections (older than run `before`, if given), for site admins."""
    if principal.anonymous:
        raise Unauthenticated("sign in as a site admin to see garbage collection runs")
    if principal.user is None or not principal.user.is_admin or principal.robot:
        raise Forbidden("only site admins may see garbage collection runs")
    return await recent(db, limit=limit, before=before)
