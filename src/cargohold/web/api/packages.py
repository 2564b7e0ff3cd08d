"""/packages: create, link, get and delete; lists by workspace, project or repository.

A package's name is `WORKSPACE/NAME` and NAME may contain `/`, so the name is the
rest of the path; sub-resources follow `/-/`, which no name component can be.
A package you may not pull answers 404, exactly like a missing one.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from cargohold.services.registry.checked import packages
from cargohold.services.registry.checked.packages import PackageInfo
from cargohold.web.api.deps import CurrentContext, CurrentPrincipal, DbTx, PageQuery, location
from cargohold.web.api.models import Body, Items, PackageName, RoleName, label, timestamp
from cargohold.web.api.problems import responses

router = APIRouter(tags=["packages"], responses=responses(401, 403, 404, 422))


class PackageOut(BaseModel):
    name: str = Field(description="WORKSPACE/NAME, as in `docker pull HOST/WORKSPACE/NAME`.")
    workspace: str
    repository: str = Field(description="The linked repository, WORKSPACE/REPO.")
    project: str
    public: bool
    created_at: datetime
    tag_count: int
    role: RoleName = Field(description="What you may do: read pulls, write pushes, admin all.")
    downloads: int = Field(
        description="Pulls (manifest GETs; a multi-arch pull counts once), all time. Each"
        " server process writes its counts every few seconds."
    )

    @classmethod
    def of(cls, package: PackageInfo) -> PackageOut:
        return cls(
            name=package.name,
            workspace=package.workspace,
            repository=package.repository,
            project=package.project,
            public=package.public,
            created_at=timestamp(package.created_at),
            tag_count=package.tag_count,
            role=label(package.role),
            downloads=package.downloads,
        )


class PackageIn(Body):
    name: str = Field(max_length=255, description="WORKSPACE/NAME")
    repository: str = Field(
        max_length=200, description="The repository to link: WORKSPACE/REPO, or REPO."
    )


class PackageUpdate(Body):
    repository: str = Field(
        max_length=200, description="Link the package to this repository of its workspace."
    )


def _page(found: tuple[list[PackageInfo], bool]) -> Items[PackageOut]:
    items, more = found
    return Items(
        items=[PackageOut.of(p) for p in items], next_after=items[-1].name if more else None
    )


@router.get("/workspaces/{workspace}/packages")
async def list_workspace_packages(
    workspace: str, page: PageQuery, tx: DbTx, principal: CurrentPrincipal
) -> Items[PackageOut]:
    """The packages of the workspace you may pull (anyone: the public ones)."""
    found = await packages.browse_packages(
        tx, principal, workspace=workspace, limit=page.limit, after=page.after
    )
    return _page(found)


@router.get("/workspaces/{workspace}/projects/{key}/packages")
async def list_project_packages(
    workspace: str, key: str, page: PageQuery, tx: DbTx, principal: CurrentPrincipal
) -> Items[PackageOut]:
    found = await packages.browse_packages(
        tx, principal, workspace=workspace, project=key, limit=page.limit, after=page.after
    )
    return _page(found)


@router.get("/workspaces/{workspace}/repositories/{repository}/packages")
async def list_repository_packages(
    workspace: str, repository: str, page: PageQuery, tx: DbTx, principal: CurrentPrincipal
) -> Items[PackageOut]:
    found = await packages.browse_packages(
        tx,
        principal,
        workspace=workspace,
        repository=repository,
        limit=page.limit,
        after=page.after,
    )
    return _page(found)


@router.post("/packages", status_code=status.HTTP_201_CREATED, responses=responses(409))
async def create_package(
    body: PackageIn,
    tx: DbTx,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
    request: Request,
    response: Response,
) -> PackageOut:
    """Create a package linked to a repository, before its first push (repository admins)."""
    created = await packages.add_package(
        tx, principal, name=body.name, repository=body.repository, now=ctx.now()
    )
    response.headers["Location"] = location(request, f"/packages/{created.name}")
    return PackageOut.of(created)


@router.get("/packages/{name:path}")
async def get_package(name: PackageName, tx: DbTx, principal: CurrentPrincipal) -> PackageOut:
    return PackageOut.of(await packages.show_package(tx, principal, name))


@router.patch("/packages/{name:path}")
async def link_package(
    name: PackageName, body: PackageUpdate, tx: DbTx, principal: CurrentPrincipal
) -> PackageOut:
    """Link the package to another repository (admin on both). A move that makes a private
    package public (into a public repository) is for owners of the workspace only."""
    linked = await packages.relink_package(tx, principal, name=name, repository=body.repository)
    return PackageOut.of(linked)


@router.delete(
    "/packages/{name:path}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
async def delete_package(name: PackageName, tx: DbTx, principal: CurrentPrincipal) -> None:
    """Delete the package with its tags and manifests (package admins); the bytes go at
    the next garbage collection."""
    await packages.remove_package(tx, principal, name)
