"""/workspaces/{workspace}/projects and their grants."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from cargohold.services.accounts.checked import workspaces
from cargohold.services.accounts.checked.workspaces import Project
from cargohold.web.api.deps import CurrentContext, CurrentPrincipal, DbTx, location
from cargohold.web.api.models import Body, GrantIn, GrantOut, Items, role, timestamp
from cargohold.web.api.problems import responses

router = APIRouter(tags=["projects"], responses=responses(401, 403, 404, 422))


class ProjectOut(BaseModel):
    workspace: str
    key: str
    name: str
    created_at: datetime

    @classmethod
    def of(cls, project: Project) -> ProjectOut:
        return cls(
            workspace=project.workspace,
            key=project.key,
            name=project.name,
            created_at=timestamp(project.created_at),
        )


class ProjectIn(Body):
    key: str = Field(max_length=32, description="A-Z, 0-9 and _, e.g. PLAT.")
    name: str | None = Field(default=None, max_length=200)


class ProjectUpdate(Body):
    name: str = Field(max_length=200, description="The project's new name; its key stays.")


_PROJECT = "/workspaces/{workspace}/projects/{key}"


@router.get("/workspaces/{workspace}/projects")
async def list_projects(workspace: str, tx: DbTx, principal: CurrentPrincipal) -> Items[ProjectOut]:
    found = await workspaces.list_projects(tx, principal, workspace)
    return Items(items=[ProjectOut.of(p) for p in found])


@router.post(
    "/workspaces/{workspace}/projects",
    status_code=status.HTTP_201_CREATED,
    responses=responses(409),
)
async def create_project(
    workspace: str,
    body: ProjectIn,
    tx: DbTx,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
    request: Request,
    response: Response,
) -> ProjectOut:
    """Create a project (owners)."""
    project = await workspaces.add_project(
        tx, principal, workspace, key=body.key, name=body.name, now=ctx.now()
    )
    response.headers["Location"] = location(
        request, _PROJECT.format(workspace=workspace, key=project.key)
    )
    return ProjectOut.of(project)


@router.get(_PROJECT)
async def get_project(
    workspace: str, key: str, tx: DbTx, principal: CurrentPrincipal
) -> ProjectOut:
    return ProjectOut.of(await workspaces.show_project(tx, principal, workspace, key))


@router.patch(_PROJECT)
async def update_project(
    workspace: str, key: str, body: ProjectUpdate, tx: DbTx, principal: CurrentPrincipal
) -> ProjectOut:
    """Rename a project (owners); its key, which grants and links use, stays."""
    renamed = await workspaces.rename_project(tx, principal, workspace, key, name=body.name)
    return ProjectOut.of(renamed)


@router.get(f"{_PROJECT}/grants")
async def list_project_grants(
    workspace: str, key: str, tx: DbTx, principal: CurrentPrincipal
) -> Items[GrantOut]:
    """Who has a role on every repository of the project (owners)."""
    found = await workspaces.list_project_grants(tx, principal, workspace, key)
    return Items(items=[GrantOut.of(g) for g in found])


@router.put(f"{_PROJECT}/grants/{{email}}")
async def put_project_grant(
    workspace: str, key: str, email: str, body: GrantIn, tx: DbTx, principal: CurrentPrincipal
) -> GrantOut:
    """Give someone a role on every repository of the project (owners)."""
    grant = await workspaces.set_project_grant(
        tx, principal, workspace, key, email=email, role=role(body.role)
    )
    return GrantOut.of(grant)


@router.delete(
    f"{_PROJECT}/grants/{{email}}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
async def remove_project_grant(
    workspace: str, key: str, email: str, tx: DbTx, principal: CurrentPrincipal
) -> None:
    await workspaces.remove_project_grant(tx, principal, workspace, key, email=email)
