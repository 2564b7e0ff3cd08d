"""Storage usage of workspaces, repositories and packages, and workspace quotas.

Usage counts every distinct blob once (layers shared between images, packages and
repositories included) plus the manifests; the rules are in docs/usage.md.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from cargohold.services.lifecycle.checked import usage
from cargohold.services.lifecycle.checked.usage import PackageUsage, RepositoryUsage
from cargohold.services.registry.quotas import MAX_QUOTA, Quota
from cargohold.web.api.deps import CurrentPrincipal, DbTx
from cargohold.web.api.models import Body, PackageName
from cargohold.web.api.problems import responses

router = APIRouter(tags=["usage"], responses=responses(401, 403, 404, 422))


class PackageUsageOut(BaseModel):
    name: str
    repository: str | None = Field(description="The linked repository, WORKSPACE/REPO.")
    bytes: int = Field(description="Its blobs, each once, and its manifests.")

    @classmethod
    def of(cls, package: PackageUsage) -> PackageUsageOut:
        return cls(name=package.name, repository=package.repository, bytes=package.bytes)


class RepositoryUsageOut(BaseModel):
    full_name: str = Field(description="WORKSPACE/REPO")
    bytes: int = Field(description="Its packages' distinct blobs and their manifests.")
    package_count: int
    shared_bytes: int = Field(
        description="What its packages' own figures add up to beyond `bytes`: layers they share."
    )

    @classmethod
    def of(cls, repository: RepositoryUsage) -> RepositoryUsageOut:
        return cls(
            full_name=repository.full_name,
            bytes=repository.bytes,
            package_count=repository.package_count,
            shared_bytes=repository.shared_bytes,
        )


class WorkspaceUsageOut(BaseModel):
    workspace: str
    bytes: int | None = Field(
        description="The whole workspace, each blob once (members only; null for others)."
    )
    quota_bytes: int | None = Field(description="Null: no quota (or you are not a member).")
    percent_used: float | None = Field(description="`bytes` of `quota_bytes`, in percent.")
    shared_bytes: int | None = Field(
        description="What the package figures add up to beyond `bytes` (members only)."
    )
    packages: list[PackageUsageOut] = Field(description="Those you may pull, largest first.")
    repositories: list[RepositoryUsageOut] = Field(description="Those you may read, largest first.")


class RepositoryDetailsOut(RepositoryUsageOut):
    packages: list[PackageUsageOut] = Field(description="Largest first.")


class PackageDetailsOut(BaseModel):
    name: str
    bytes: int = Field(description="`blob_bytes` + `manifest_bytes`.")
    blob_bytes: int
    manifest_bytes: int
    blob_count: int
    manifest_count: int
    shared_bytes: int = Field(
        description="Of `blob_bytes`, what other packages of the workspace link too: deleting"
        " this package frees at most `bytes - shared_bytes`."
    )


class QuotaIn(Body):
    quota_bytes: int = Field(ge=0, le=MAX_QUOTA, description="The most the workspace may hold.")


class QuotaOut(BaseModel):
    workspace: str
    bytes: int
    quota_bytes: int | None
    percent_used: float | None

    @classmethod
    def of(cls, workspace: str, quota: Quota) -> QuotaOut:
        return cls(
            workspace=workspace,
            bytes=quota.bytes,
            quota_bytes=quota.quota_bytes,
            percent_used=quota.percent,
        )


@router.get("/workspaces/{workspace}/usage")
async def get_workspace_usage(
    workspace: str, tx: DbTx, principal: CurrentPrincipal
) -> WorkspaceUsageOut:
    """Storage the workspace's packages and repositories take, largest first (those you
    may read); members also see the total, the quota and the bytes shared."""
    found = await usage.show_workspace_usage(tx, principal, workspace)
    total = found.total
    return WorkspaceUsageOut(
        workspace=found.workspace,
        bytes=None if total is None else total.bytes,
        quota_bytes=None if total is None else total.quota_bytes,
        percent_used=None if total is None else total.percent,
        shared_bytes=found.shared_bytes,
        packages=[PackageUsageOut.of(p) for p in found.packages],
        repositories=[RepositoryUsageOut.of(r) for r in found.repositories],
    )


@router.put("/workspaces/{workspace}/quota")
async def put_workspace_quota(
    workspace: str, body: QuotaIn, tx: DbTx, principal: CurrentPrincipal
) -> QuotaOut:
    """Set the workspace's storage quota (site admins): pushes that would go over it are
    refused."""
    quota = await usage.change_quota(tx, principal, workspace, quota_bytes=body.quota_bytes)
    return QuotaOut.of(workspace, quota)


@router.delete(
    "/workspaces/{workspace}/quota",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
async def delete_workspace_quota(workspace: str, tx: DbTx, principal: CurrentPrincipal) -> None:
    """Remove the workspace's storage quota (site admins)."""
    await usage.change_quota(tx, principal, workspace, quota_bytes=None)


@router.get("/workspaces/{workspace}/quota")
async def get_workspace_quota(workspace: str, tx: DbTx, principal: CurrentPrincipal) -> QuotaOut:
    """The workspace's usage against its quota (members)."""
    return QuotaOut.of(workspace, await usage.show_quota(tx, principal, workspace))


@router.get("/workspaces/{workspace}/repositories/{repository}/usage")
async def get_repository_usage(
    workspace: str, repository: str, tx: DbTx, principal: CurrentPrincipal
) -> RepositoryDetailsOut:
    """Storage the repository's packages take together, and each of them."""
    found = await usage.show_repository_usage(tx, principal, f"{workspace}/{repository}")
    return RepositoryDetailsOut(
        **RepositoryUsageOut.of(found.usage).model_dump(),
        packages=[PackageUsageOut.of(p) for p in found.packages],
    )


@router.get("/packages/{name:path}/-/usage")
async def get_package_usage(
    name: PackageName, tx: DbTx, principal: CurrentPrincipal
) -> PackageDetailsOut:
    """Storage the package takes: its blobs, each once, and its manifests."""
    found = await usage.show_package_usage(tx, principal, name)
    return PackageDetailsOut(
        name=found.name,
        bytes=found.bytes,
        blob_bytes=found.blob_bytes,
        manifest_bytes=found.manifest_bytes,
        blob_count=found.blobs,
        manifest_count=found.manifests,
        shared_bytes=found.shared_bytes,
    )
