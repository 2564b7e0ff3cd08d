"""/packages/{name}/-/tags: list and delete tags."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from cargohold.services.registry.checked import manifests
from cargohold.services.registry.checked.manifests import TagInfo
from cargohold.web.api.deps import CurrentPrincipal, DbTx, PageQuery
from cargohold.web.api.models import Items, PackageName, timestamp
from cargohold.web.api.problems import responses

router = APIRouter(tags=["tags"], responses=responses(401, 403, 404, 422))


class TagOut(BaseModel):
    name: str
    digest: str
    media_type: str
    size: int
    updated_at: datetime
    downloads: int = Field(description="Pulls by this tag, all time (written every few seconds).")

    @classmethod
    def of(cls, tag: TagInfo) -> TagOut:
        return cls(
            name=tag.name,
            digest=tag.digest,
            media_type=tag.media_type,
            size=tag.size,
            updated_at=timestamp(tag.updated_at),
            downloads=tag.downloads,
        )


@router.get("/packages/{name:path}/-/tags")
async def list_tags(
    name: PackageName, page: PageQuery, tx: DbTx, principal: CurrentPrincipal
) -> Items[TagOut]:
    """The package's tags in name order, with the manifest each names."""
    found, more = await manifests.browse_tags(
        tx, principal, name=name, limit=page.limit, after=page.after
    )
    return Items(items=[TagOut.of(t) for t in found], next_after=found[-1].name if more else None)


@router.delete(
    "/packages/{name:path}/-/tags/{tag}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
async def delete_tag(name: PackageName, tag: str, tx: DbTx, principal: CurrentPrincipal) -> None:
    """Remove a tag (write on the package); the manifest stays, reachable by digest."""
    await manifests.remove_tag(tx, principal, name=name, tag=tag)
