"""/workspaces/{workspace}/repositories and their grants."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from cargohold.services.accounts.checked import repositories
from cargohold.services.accounts.checked.repositories import RepositoryInfo
from cargohold.web.api.deps import CurrentContext, CurrentPrincipal, DbTx, location
from cargohold.web.api.models import (
    Body,
    GrantIn,
    GrantOut,
    Items,
    RoleName,
    label,
    role,
    timestamp,
)
from cargohold.web.api.problems import responses

router = APIRouter(tags=["repositories"], responses=responses(401, 403, 404, 422))


class RepositoryOut(BaseModel):
    full_name: str = Field(description="WORKSPACE/REPO")
    workspace: str
    slug: str
    project: str
    public: bool
    created_at: datetime
    role: RoleName = Field(description="Your role on the repository and its packages.")

    @classmethod
    def of(cls, repository: RepositoryInfo) -> RepositoryOut:
        return cls(
            full_name=repository.full_name,
            workspace=repository.workspace,
            slug=repository.slug,
            project=repository.project,
            public=repository.public,
            created_at=timestamp(repository.created_at),
            role=label(repository.role),
        )


class RepositoryIn(Body):
    slug: str = Field(max_length=128, description="a-z, 0-9, . _ -")
    project: str = Field(max_length=32, description="The key of the project it belongs to.")
    public: bool = False


class RepositoryUpdate(Body):
    public: bool | None = Field(default=None, description="Anyone may pull its packages.")
    slug: str | None = Field(
        default=None,
        max_length=128,
        description="A new slug: renames the repository. Its packages (whose names stay),"
        " grants, access tokens and trust policies follow it.",
    )


_REPOSITORY = "/workspaces/{workspace}/repositories/{repository}"


@router.get("/workspaces/{workspace}/repositories")
async def list_repositories(
    workspace: str, tx: DbTx, principal: CurrentPrincipal
) -> Items[RepositoryOut]:
    """The repositories of the workspace you may read."""
    found = await repositories.list_repositories(tx, principal, workspace)
    return Items(items=[RepositoryOut.of(r) for r in found])


@router.post(
    "/workspaces/{workspace}/repositories",
    status_code=status.HTTP_201_CREATED,
    responses=responses(409),
)
async def create_repository(
    workspace: str,
    body: RepositoryIn,
    tx: DbTx,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
    request: Request,
    response: Response,
) -> RepositoryOut:
    """Create a repository in a project (owners)."""
    created = await repositories.add_repository(
        tx,
        principal,
        workspace,
        repository=body.slug,
        project=body.project,
        public=body.public,
        now=ctx.now(),
    )
    response.headers["Location"] = location(
        request, _REPOSITORY.format(workspace=workspace, repository=created.slug)
    )
    return RepositoryOut.of(created)


@router.get(_REPOSITORY)
async def get_repository(
    workspace: str, repository: str, tx: DbTx, principal: CurrentPrincipal
) -> RepositoryOut:
    found = await repositories.show_repository(tx, principal, f"{workspace}/{repository}")
    return RepositoryOut.of(found)


@router.patch(_REPOSITORY)
async def update_repository(
    workspace: str,
    repository: str,
    body: RepositoryUpdate,
    tx: DbTx,
    principal: CurrentPrincipal,
) -> RepositoryOut:
    """Make a repository (and so its packages) public or private, or rename it (owners)."""
    full_name = f"{workspace}/{repository}"
    if body.slug is not None:
        renamed = await repositories.rename_repository(tx, principal, full_name, slug=body.slug)
        full_name = renamed.full_name
    updated = await repositories.update_repository(tx, principal, full_name, public=body.public)
    return RepositoryOut.of(updated)


@router.get(f"{_REPOSITORY}/grants")
async def list_repository_grants(
    workspace: str, repository: str, tx: DbTx, principal: CurrentPrincipal
) -> Items[GrantOut]:
    """Who has a role on the repository itself (owners)."""
    found = await repositories.list_repository_grants(tx, principal, f"{workspace}/{repository}")
    return Items(items=[GrantOut.of(g) for g in found])


@router.put(f"{_REPOSITORY}/grants/{{email}}")
async def put_repository_grant(
    workspace: str,
    repository: str,
    email: str,
    body: GrantIn,
    tx: DbTx,
    principal: CurrentPrincipal,
) -> GrantOut:
    """Give someone a role on the repository and its packages (owners)."""
    grant = await repositories.set_repository_grant(
        tx, principal, f"{workspace}/{repository}", email=email, role=role(body.role)
    )
    return GrantOut.of(grant)


@router.delete(
    f"{_REPOSITORY}/grants/{{email}}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
async def remove_repository_grant(
    workspace: str, repository: str, email: str, tx: DbTx, principal: CurrentPrincipal
) -> None:
    await repositories.remove_repository_grant(
        tx, principal, f"{workspace}/{repository}", email=email
    )
