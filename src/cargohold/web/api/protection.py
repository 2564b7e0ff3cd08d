"""/packages/{name}/-/protection: the tag patterns only package admins may move or delete."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cargohold.services.registry import patterns
from cargohold.services.registry.checked import protection
from cargohold.services.registry.checked.protection import Protection
from cargohold.web.api.deps import CurrentContext, CurrentPrincipal, DbTx
from cargohold.web.api.models import Body, PackageName
from cargohold.web.api.problems import responses

router = APIRouter(tags=["protection"], responses=responses(401, 403, 404, 422))


class ProtectionIn(Body):
    patterns: list[str] = Field(
        max_length=patterns.MAX_PATTERNS,
        description="Tag patterns (`*` and `?`, whole tag, case-sensitive); this list"
        " replaces the package's; an empty list removes them all.",
        examples=[["v*", "release-*"]],
    )


class ProtectionOut(BaseModel):
    patterns: list[str]

    @classmethod
    def of(cls, found: Protection) -> ProtectionOut:
        return cls(patterns=list(found.patterns))


@router.get("/packages/{name:path}/-/protection")
async def get_protection(name: PackageName, tx: DbTx, principal: CurrentPrincipal) -> ProtectionOut:
    """The package's protected tag patterns (read)."""
    return ProtectionOut.of(await protection.get_protection(tx, principal, name))


@router.put("/packages/{name:path}/-/protection")
async def put_protection(
    name: PackageName,
    body: ProtectionIn,
    tx: DbTx,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
) -> ProtectionOut:
    """Replace the package's protected tag patterns (admin). Tags matching one may be
    moved to another manifest or deleted only by a package admin."""
    found = await protection.set_protection(
        tx, principal, name=name, rules=body.patterns, now=ctx.now()
    )
    return ProtectionOut.of(found)
