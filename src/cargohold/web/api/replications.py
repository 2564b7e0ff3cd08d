"""/workspaces/{ws}/replications: rules that copy every push of a package, or of the whole
workspace, to a remote registry; their status, their jobs, and retrying a failed one
(docs/replication.md). The remote's password is never shown."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field
from starlette.requests import Request

from cargohold.metadata.schema import MAX_BIG_ID
from cargohold.services.registry.checked import replications
from cargohold.services.registry.replication import rules
from cargohold.services.registry.replication.jobs import Job
from cargohold.services.registry.replication.rules import Replication
from cargohold.web.actors import identify_principal
from cargohold.web.api.deps import (
    BigRowId,
    CurrentContext,
    CurrentPrincipal,
    DbTx,
    RowId,
    location,
)
from cargohold.web.api.models import Body, Items, maybe_timestamp, timestamp
from cargohold.web.api.problems import responses

router = APIRouter(tags=["replication"], responses=responses(401, 403, 404, 422))

_BASE = "/workspaces/{workspace}/replications"
State = Literal["pending", "done", "failed"]
Url = Annotated[
    str,
    Field(
        max_length=rules.MAX_URL,
        description="The remote registry: https://HOST[:PORT], or http:// to a loopback"
        " address (elsewhere with mirror_allow_http).",
        examples=["https://registry.example.com"],
    ),
]
Package = Annotated[
    str,
    Field(
        max_length=255,
        description="One package of the workspace (`web/api` or `acme/web/api`); empty or"
        " null: every package of the workspace (owners only).",
        examples=["acme/web"],
    ),
]
Prefix = Annotated[
    str,
    Field(
        max_length=253,
        description="Where the packages go at the remote: `WS/NAME` becomes `PREFIX/NAME`"
        " (`NAME` when empty).",
        examples=["mirror"],
    ),
]
Username = Annotated[str, Field(min_length=1, max_length=rules.MAX_USERNAME)]
Password = Annotated[
    str,
    Field(
        min_length=1,
        max_length=rules.MAX_PASSWORD,
        description="Stored sealed, never shown again.",
    ),
]


class ReplicationIn(Body):
    url: Url
    package: Package | None = None
    prefix: Prefix = ""
    username: Username | None = None
    password: Password | None = None
    active: bool = True


class ReplicationUpdate(Body):
    url: Url | None = None
    prefix: Prefix | None = None
    username: Username | None = None
    password: Password | None = None
    anonymous: bool = Field(default=False, description="true drops the credentials.")
    active: bool | None = None


class JobCounts(BaseModel):
    pending: int
    done: int
    failed: int


class ReplicationOut(BaseModel):
    id: int
    workspace: str
    package: str | None = Field(description="The package replicated; null: every one.")
    url: str
    prefix: str
    username: str | None
    has_password: bool
    active: bool
    last_success_at: datetime | None = Field(description="When a job last completed.")
    last_error: str | None = Field(description="What the last failed attempt said.")
    last_error_at: datetime | None
    retry_at: datetime | None = Field(description="Backing off until then after a failure.")
    jobs: JobCounts
    created_at: datetime
    created_by: str | None
    updated_at: datetime


def _out(rule: Replication, counts: dict[str, int]) -> ReplicationOut:
    fields: dict[str, Any] = {
        "id": rule.id,
        "workspace": rule.workspace,
        "package": rule.package or None,
        "url": rule.url,
        "prefix": rule.prefix,
        "username": rule.username,
        "has_password": rule.has_password,
        "active": rule.active,
        "last_success_at": maybe_timestamp(rule.last_success_at),
        "last_error": rule.last_error,
        "last_error_at": maybe_timestamp(rule.last_error_at),
        "retry_at": maybe_timestamp(rule.retry_at),
        "jobs": counts,
        "created_at": timestamp(rule.created_at),
        "created_by": rule.created_by,
        "updated_at": timestamp(rule.updated_at),
    }
    return ReplicationOut.model_validate(fields)


class JobOut(BaseModel):
    id: int
    package: str
    tag: str | None = Field(description="The tag pushed; null for a push by digest.")
    digest: str
    state: State
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    finished_at: datetime | None
    copied: int | None = Field(description="Blobs and manifests sent by the last attempt.")
    error: str | None = Field(description="What the last failed attempt said.")

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls.model_validate(
            {
                "id": job.id,
                "package": job.package,
                "tag": job.tag,
                "digest": job.digest,
                "state": job.state,
                "attempts": job.attempts,
                "created_at": timestamp(job.created_at),
                "last_attempt_at": maybe_timestamp(job.last_attempt_at),
                "next_attempt_at": maybe_timestamp(job.next_attempt_at),
                "finished_at": maybe_timestamp(job.finished_at),
                "copied": job.copied,
                "error": job.error,
            }
        )


@router.get(_BASE)
async def list_replications(
    workspace: str, tx: DbTx, principal: CurrentPrincipal
) -> Items[ReplicationOut]:
    """The rules you manage, with their status: all of the workspace's for its owners,
    those of your packages for package admins."""
    found = await replications.list_replications(tx, principal, workspace)
    return Items(
        items=[
            _out(rule, await replications.job_counts(tx, principal, workspace, rule.id))
            for rule in found
        ]
    )


@router.post(_BASE, status_code=status.HTTP_201_CREATED)
async def create_replication(
    workspace: str,
    body: ReplicationIn,
    request: Request,
    response: Response,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
) -> ReplicationOut:
    """Replicate every push after this one (owners; a package's admins for that package).
    The remote's URL must pass the forgery guard."""
    identify_principal(principal)  # no DbTx here: the URL is resolved between transactions
    made = await replications.create_replication(
        ctx,
        principal,
        workspace=workspace,
        package=body.package,
        url=body.url,
        username=body.username,
        password=body.password,
        prefix=body.prefix,
        active=body.active,
    )
    response.headers["Location"] = location(
        request, f"/workspaces/{made.workspace}/replications/{made.id}"
    )
    return _out(made, {"pending": 0, "done": 0, "failed": 0})


@router.get(f"{_BASE}/{{replication_id}}")
async def show_replication(
    workspace: str, replication_id: RowId, tx: DbTx, principal: CurrentPrincipal
) -> ReplicationOut:
    rule = await replications.show_replication(tx, principal, workspace, replication_id)
    return _out(rule, await replications.job_counts(tx, principal, workspace, rule.id))


@router.patch(f"{_BASE}/{{replication_id}}")
async def update_replication(
    workspace: str,
    replication_id: RowId,
    body: ReplicationUpdate,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
) -> ReplicationOut:
    """Change what is given; new credentials replace the old ones. Turning a rule on, or
    changing its remote, makes its waiting jobs due at once."""
    identify_principal(principal)
    changed = await replications.update_replication(
        ctx,
        principal,
        workspace=workspace,
        replication_id=replication_id,
        url=body.url,
        username=body.username,
        password=body.password,
        anonymous=body.anonymous,
        prefix=body.prefix,
        active=body.active,
    )
    async with ctx.db.transaction() as tx:
        counts = await replications.job_counts(tx, principal, workspace, changed.id)
    return _out(changed, counts)


@router.delete(
    f"{_BASE}/{{replication_id}}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
async def delete_replication(
    workspace: str,
    replication_id: RowId,
    tx: DbTx,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
) -> None:
    """Nothing more is copied; what the remote has stays."""
    await replications.delete_replication(tx, principal, workspace, replication_id, now=ctx.now())


@router.get(f"{_BASE}/{{replication_id}}/jobs")
async def list_jobs(
    workspace: str,
    replication_id: RowId,
    tx: DbTx,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
    state: Annotated[State | None, Query(description="Only jobs in this state.")] = None,
    limit: Annotated[int, Query(ge=1, description="At most this many jobs.")] = 50,
    after: Annotated[
        int | None,
        Query(ge=1, le=MAX_BIG_ID, description="Older than this job (`next_after`)."),
    ] = None,
) -> Items[JobOut]:
    """The rule's jobs, newest first: one per push, with its state, attempts and error."""
    found, more = await replications.list_jobs(
        tx,
        principal,
        workspace,
        replication_id,
        limit=min(limit, ctx.settings.page_size_max),
        before=after,
        state=state,
    )
    return Items(
        items=[JobOut.of(job) for job in found], next_after=None if more is None else str(more)
    )


@router.post(
    f"{_BASE}/{{replication_id}}/jobs/{{job_id}}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(409),
)
async def retry_job(
    workspace: str,
    replication_id: RowId,
    job_id: BigRowId,
    tx: DbTx,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
) -> JobOut:
    """Try a failed job again, due now."""
    job = await replications.retry_job(
        tx, principal, workspace, replication_id, job_id, now=ctx.now()
    )
    return JobOut.of(job)
