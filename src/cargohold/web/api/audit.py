"""The audit log: `/workspaces/{ws}/audit` (its owners) and `/audit` (site admins).

Read only: no endpoint changes or deletes an entry. Newest first; `next` is the `after`
of the following page (a keyset on the entry id), null on the last one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from cargohold.metadata.schema import MAX_BIG_ID
from cargohold.services.accounts.checked import audit
from cargohold.services.errors import Invalid
from cargohold.services.events.audit import Event, Filters, parse_time
from cargohold.web.api.deps import CurrentContext, CurrentPrincipal, DbTx
from cargohold.web.api.models import timestamp
from cargohold.web.api.problems import responses

router = APIRouter(tags=["audit log"], responses=responses(401, 403, 404, 422))


class ActorOut(BaseModel):
    kind: str = Field(description="user, token (an access token), system or anonymous.")
    id: str | None = Field(description="The user's id, or the access token's.")
    name: str | None = Field(description="An email, a token's name, or `cli:USER`.")


class AuditEntry(BaseModel):
    id: int = Field(description="Grows with every event.")
    time: datetime
    action: str = Field(description="What happened, e.g. `manifest.pushed`, `member.added`.")
    outcome: str = Field(description="ok, refused (a failed sign-in) or failed.")
    actor: ActorOut
    client_address: str | None
    request_id: str | None = Field(description="The request's X-Request-ID, when it had one.")
    target: str | None = Field(description="What was acted on, for people to read.")
    workspace: str | None
    package: str | None
    repository: str | None
    tag: str | None
    digest: str | None
    data: dict[str, Any] = Field(description="Details: media type, size, from and to, ...")

    @classmethod
    def of(cls, event: Event) -> AuditEntry:
        return cls(
            id=event.id,
            time=timestamp(event.at),
            action=event.action,
            outcome=event.outcome,
            actor=ActorOut(kind=event.actor_kind, id=event.actor_id, name=event.actor_name),
            client_address=event.client_address,
            request_id=event.request_id,
            target=event.target,
            workspace=event.workspace,
            package=event.package,
            repository=event.repository,
            tag=event.tag,
            digest=event.digest,
            data=event.data,
        )


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next: str | None = Field(
        default=None, description="Pass as `after` for the next page; null on the last one."
    )


@dataclass(frozen=True, slots=True)
class AuditQuery:
    filters: Filters
    limit: int
    after: int | None


def _time(text: str | None, now: float) -> float | None:
    return None if text is None else parse_time(text, now=now)


async def _query(
    ctx: CurrentContext,
    actor: Annotated[
        str | None, Query(max_length=320, description="An email, token name or actor id.")
    ] = None,
    action: Annotated[
        str | None,
        Query(max_length=64, description="An action (`tag.deleted`) or family (`tag`, `tag.*`)."),
    ] = None,
    package: Annotated[str | None, Query(max_length=255, description="WORKSPACE/NAME")] = None,
    since: Annotated[
        str | None,
        Query(max_length=40, description="From: `2026-03-01`, `2026-03-01T12:00:00Z` or `7d`."),
    ] = None,
    until: Annotated[str | None, Query(max_length=40, description="Before (excluded).")] = None,
    limit: Annotated[int, Query(ge=1, description="At most this many entries.")] = 100,
    after: Annotated[
        str | None, Query(max_length=20, description="The `next` of the page before.")
    ] = None,
) -> AuditQuery:
    if after is not None and not (after.isascii() and after.isdigit() and int(after) <= MAX_BIG_ID):
        raise Invalid(f"after must be the `next` of a page, not {after[:20]!r}")
    now = ctx.now()
    return AuditQuery(
        Filters(
            actor=actor or None,
            action=action or None,
            package=package or None,
            since=_time(since, now),
            until=_time(until, now),
        ),
        min(limit, ctx.settings.page_size_max),
        None if after is None else int(after),
    )


AuditQueryDep = Annotated[AuditQuery, Depends(_query)]


def _page(found: tuple[list[Event], int | None]) -> AuditPage:
    events, after = found
    return AuditPage(
        items=[AuditEntry.of(e) for e in events], next=None if after is None else str(after)
    )


@router.get("/workspaces/{workspace}/audit")
async def workspace_audit(
    workspace: str, query: AuditQueryDep, tx: DbTx, principal: CurrentPrincipal
) -> AuditPage:
    """The workspace's audit log, newest first: every change to its packages, members,
    grants, repositories, tokens and settings, who made it and from where (its owners)."""
    found = await audit.workspace_log(
        tx, principal, workspace, filters=query.filters, limit=query.limit, after=query.after
    )
    return _page(found)


@router.get("/audit")
async def site_audit(query: AuditQueryDep, tx: DbTx, principal: CurrentPrincipal) -> AuditPage:
    """Every workspace's audit log and the site's own (sign-ins, people, garbage
    collection), newest first (site admins)."""
    found = await audit.site_log(
        tx, principal, filters=query.filters, limit=query.limit, after=query.after
    )
    return _page(found)
