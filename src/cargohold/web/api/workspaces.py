"""/workspaces and their members."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from cargohold.services.accounts.checked import workspaces
from cargohold.services.accounts.checked.workspaces import Member, Workspace
from cargohold.web.api.deps import CurrentContext, CurrentPrincipal, DbTx, location
from cargohold.web.api.models import Body, Items, timestamp
from cargohold.web.api.problems import responses

router = APIRouter(tags=["workspaces"], responses=responses(401, 403, 404, 422))


class WorkspaceOut(BaseModel):
    slug: str
    name: str
    create_on_push: bool
    created_at: datetime
    owner: bool = Field(description="Whether you own the workspace.")
    quota_bytes: int | None = Field(
        description="The storage quota (set by site admins); null: none. See `/usage`."
    )

    @classmethod
    def of(cls, workspace: Workspace) -> WorkspaceOut:
        return cls(
            slug=workspace.slug,
            name=workspace.name,
            create_on_push=workspace.create_on_push,
            created_at=timestamp(workspace.created_at),
            owner=workspace.owner,
            quota_bytes=workspace.quota_bytes,
        )


class WorkspaceIn(Body):
    slug: str = Field(max_length=64, description="Lowercase letters, digits and -.")
    name: str | None = Field(default=None, max_length=200)
    owner: str | None = Field(
        default=None, description="Email of the first owner (site admins only; default: you)."
    )
    create_on_push: bool = False


class WorkspaceUpdate(Body):
    name: str | None = Field(default=None, max_length=200)
    create_on_push: bool | None = None


class MemberOut(BaseModel):
    email: str
    display_name: str
    owner: bool

    @classmethod
    def of(cls, member: Member) -> MemberOut:
        return cls(
            email=member.user.email, display_name=member.user.display_name, owner=member.owner
        )


class MemberIn(Body):
    owner: bool = False


@router.get("/workspaces")
async def list_workspaces(tx: DbTx, principal: CurrentPrincipal) -> Items[WorkspaceOut]:
    """The workspaces you belong to (site admins: all)."""
    found = await workspaces.list_workspaces(tx, principal)
    return Items(items=[WorkspaceOut.of(w) for w in found])


@router.post("/workspaces", status_code=status.HTTP_201_CREATED, responses=responses(409))
async def create_workspace(
    body: WorkspaceIn,
    tx: DbTx,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
    request: Request,
    response: Response,
) -> WorkspaceOut:
    """Create a workspace; you become its owner."""
    workspace = await workspaces.add_workspace(
        tx,
        principal,
        slug=body.slug,
        name=body.name,
        owner_email=body.owner,
        create_on_push=body.create_on_push,
        now=ctx.now(),
    )
    response.headers["Location"] = location(request, f"/workspaces/{workspace.slug}")
    return WorkspaceOut.of(workspace)


@router.get("/workspaces/{workspace}")
async def get_workspace(workspace: str, tx: DbTx, principal: CurrentPrincipal) -> WorkspaceOut:
    return WorkspaceOut.of(await workspaces.show_workspace(tx, principal, workspace))


@router.patch("/workspaces/{workspace}")
async def update_workspace(
    workspace: str, body: WorkspaceUpdate, tx: DbTx, principal: CurrentPrincipal
) -> WorkspaceOut:
    """Rename a workspace or switch create-on-push (owners)."""
    updated = await workspaces.update_workspace(
        tx, principal, workspace, name=body.name, create_on_push=body.create_on_push
    )
    return WorkspaceOut.of(updated)


@router.get("/workspaces/{workspace}/members")
async def list_members(workspace: str, tx: DbTx, principal: CurrentPrincipal) -> Items[MemberOut]:
    members = await workspaces.list_members(tx, principal, workspace)
    return Items(items=[MemberOut.of(m) for m in members])


@router.put(
    "/workspaces/{workspace}/members/{email}",
    responses={201: {"description": "Added", "model": MemberOut}, **responses(409)},
)
async def put_member(
    workspace: str,
    email: str,
    body: MemberIn,
    tx: DbTx,
    principal: CurrentPrincipal,
    response: Response,
) -> MemberOut:
    """Add someone to the workspace (201) or change whether they own it (200; owners)."""
    member, added = await workspaces.put_member(
        tx, principal, workspace, email=email, owner=body.owner
    )
    if added:
        response.status_code = status.HTTP_201_CREATED
    return MemberOut.of(member)


@router.delete(
    "/workspaces/{workspace}/members/{email}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=responses(409),
)
async def remove_member(workspace: str, email: str, tx: DbTx, principal: CurrentPrincipal) -> None:
    """Remove someone from the workspace (owners; the last owner stays)."""
    await workspaces.remove_member(tx, principal, workspace, email=email)
