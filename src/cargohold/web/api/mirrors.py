"""/workspaces/{ws}/mirrors: upstream registries the workspace caches as pull-through
packages `WS/PREFIX/NAME` (docs/mirror.md). A password is taken, sealed, and never shown
again."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field
from starlette.requests import Request

from cargohold.services import outbound
from cargohold.services.registry import mirrors
from cargohold.services.registry.checked import mirrors as checked
from cargohold.services.registry.mirrors import Mirror
from cargohold.web.actors import identify_principal
from cargohold.web.api.deps import CurrentContext, CurrentPrincipal, DbTx, location
from cargohold.web.api.models import Body, Items, timestamp
from cargohold.web.api.problems import responses

router = APIRouter(tags=["mirrors"], responses=responses(401, 403, 404, 422))

_BASE = "/workspaces/{workspace}/mirrors"
Prefix = Annotated[
    str,
    Field(
        min_length=1,
        max_length=mirrors.MAX_PREFIX,
        description="Where the mirror's packages appear: WS/PREFIX/NAME.",
        examples=["hub"],
    ),
]
Upstream = Annotated[
    str,
    Field(
        min_length=1,
        max_length=mirrors.MAX_URL,
        description="The upstream registry's base URL: https://, or http:// to a loopback"
        " address (anywhere with mirror_allow_http).",
        examples=["https://registry-1.docker.io"],
    ),
]
Username = Annotated[str, Field(min_length=1, max_length=320)]
Password = Annotated[
    str, Field(min_length=1, max_length=4096, description="Sealed at rest, never shown again.")
]
Ttl = Annotated[
    int,
    Field(
        ge=0,
        le=mirrors.MAX_TTL,
        description="Seconds a cached tag is served before it is checked upstream again.",
    ),
]


class MirrorIn(Body):
    prefix: Prefix
    upstream: Upstream
    username: Username | None = None
    password: Password | None = None
    repository: str | None = Field(
        default=None,
        max_length=255,
        description="The repository its packages link to (and take their permissions from);"
        " default: PREFIX, made private in project MIRRORS when missing.",
    )
    tag_ttl: Ttl | None = Field(default=None, description="Default: mirror_tag_ttl.")


class MirrorUpdate(Body):
    upstream: Upstream | None = None
    username: Username | None = Field(
        default=None, description="With password; null together with password: no credentials."
    )
    password: Password | None = None
    tag_ttl: Ttl | None = None


class MirrorOut(BaseModel):
    workspace: str
    prefix: str
    name: str = Field(description="WS/PREFIX: pull WS/PREFIX/NAME.")
    upstream: str
    username: str | None
    has_password: bool
    repository: str
    tag_ttl: int
    created_at: datetime
    created_by: str | None
    updated_at: datetime

    @classmethod
    def of(cls, mirror: Mirror) -> MirrorOut:
        return cls(
            workspace=mirror.workspace,
            prefix=mirror.prefix,
            name=mirror.name,
            upstream=outbound.redact(mirror.upstream),
            username=mirror.username,
            has_password=mirror.has_password,
            repository=mirror.repository,
            tag_ttl=mirror.tag_ttl,
            created_at=timestamp(mirror.created_at),
            created_by=mirror.created_by,
            updated_at=timestamp(mirror.updated_at),
        )


@router.get(_BASE)
async def list_mirrors(workspace: str, tx: DbTx, principal: CurrentPrincipal) -> Items[MirrorOut]:
    """The workspace's mirrors (its members)."""
    found = await checked.list_mirrors(tx, principal, workspace)
    return Items(items=[MirrorOut.of(mirror) for mirror in found])


@router.post(_BASE, status_code=status.HTTP_201_CREATED)
async def create_mirror(
    workspace: str,
    body: MirrorIn,
    request: Request,
    response: Response,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
) -> MirrorOut:
    """Mirror an upstream registry as WS/PREFIX/NAME (owners). Its host must pass the
    forgery guard."""
    identify_principal(principal)  # no DbTx here: the URL is resolved between transactions
    made = await checked.create_mirror(
        ctx,
        principal,
        workspace=workspace,
        prefix=body.prefix,
        upstream=body.upstream,
        username=body.username,
        password=body.password,
        repository=body.repository,
        tag_ttl=body.tag_ttl,
    )
    response.headers["Location"] = location(
        request, f"/workspaces/{workspace}/mirrors/{made.prefix}"
    )
    return MirrorOut.of(made)


@router.get(f"{_BASE}/{{prefix}}")
async def show_mirror(
    workspace: str, prefix: str, tx: DbTx, principal: CurrentPrincipal
) -> MirrorOut:
    return MirrorOut.of(await checked.show_mirror(tx, principal, workspace, prefix))


@router.patch(f"{_BASE}/{{prefix}}")
async def update_mirror(
    workspace: str,
    prefix: str,
    body: MirrorUpdate,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
) -> MirrorOut:
    """Change what is given (owners)."""
    identify_principal(principal)
    given = body.model_fields_set
    extra: dict[str, str | None] = {}
    if "username" in given:
        extra["username"] = body.username
    if "password" in given:
        extra["password"] = body.password
    changed = await checked.update_mirror(
        ctx,
        principal,
        workspace=workspace,
        prefix=prefix,
        upstream=body.upstream,
        tag_ttl=body.tag_ttl,
        **extra,
    )
    return MirrorOut.of(changed)


@router.delete(
    f"{_BASE}/{{prefix}}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
async def delete_mirror(
    workspace: str, prefix: str, tx: DbTx, ctx: CurrentContext, principal: CurrentPrincipal
) -> None:
    """Delete the mirror (owners); what it cached stays as packages of its repository
    until deleted or collected."""
    await checked.delete_mirror(tx, principal, workspace, prefix, now=ctx.now())
