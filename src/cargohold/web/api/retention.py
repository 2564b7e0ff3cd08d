"""/packages/{name}/-/retention: a package's retention policy, a preview of what a
policy deletes, and running the saved one now (docs/retention.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from cargohold.services.lifecycle import retention_plan
from cargohold.services.lifecycle.checked import retention
from cargohold.services.lifecycle.retention import SavedPolicy
from cargohold.services.lifecycle.retention_plan import Plan, Policy
from cargohold.web.api.deps import CurrentContext, CurrentPrincipal, DbTx
from cargohold.web.api.models import Body, PackageName, timestamp
from cargohold.web.api.problems import responses

router = APIRouter(tags=["retention"], responses=responses(401, 403, 404, 422))

KeepNewest = Annotated[
    int | None,
    Field(ge=1, le=retention_plan.MAX_KEEP_NEWEST, description="Keep the newest N tags."),
]
Days = Annotated[int | None, Field(ge=1, le=retention_plan.MAX_DAYS)]


class PolicyIn(Body):
    keep_newest: KeepNewest = None
    keep_pattern: str | None = Field(
        default=None,
        max_length=retention_plan.MAX_KEEP_PATTERN,
        description="Keep tags matching these comma-separated patterns (`*` and `?`).",
        examples=["v*,release-*"],
    )
    untagged_days: Days = Field(
        default=None, description="Delete untagged images older than this many days."
    )
    tag_days: Days = Field(default=None, description="Delete tags older than this many days.")

    def policy(self) -> Policy:
        return retention_plan.make_policy(
            keep_newest=self.keep_newest,
            keep_pattern=self.keep_pattern,
            untagged_days=self.untagged_days,
            tag_days=self.tag_days,
        )


class PolicyUpdate(PolicyIn):
    confirm_delete_all_tags: bool = Field(
        default=False,
        description="Save a policy that would delete every tag the package has now.",
    )


class PolicyOut(BaseModel):
    keep_newest: int | None
    keep_pattern: str | None
    untagged_days: int | None
    tag_days: int | None
    updated_at: datetime
    updated_by: str | None

    @classmethod
    def of(cls, saved: SavedPolicy) -> PolicyOut:
        policy = saved.policy
        return cls(
            keep_newest=policy.keep_newest,
            keep_pattern=",".join(policy.keep_pattern) or None,
            untagged_days=policy.untagged_days,
            tag_days=policy.tag_days,
            updated_at=timestamp(saved.updated_at),
            updated_by=saved.updated_by,
        )


class TagDeletionOut(BaseModel):
    name: str
    digest: str
    updated_at: datetime
    age_days: int = Field(description="Whole days since the tag was last pushed.")


class ManifestDeletionOut(BaseModel):
    digest: str
    media_type: str
    artifact_type: str | None
    size: int
    created_at: datetime
    age_days: int
    reason: Literal["untagged", "platform", "referrer"] = Field(
        description="untagged: an untagged image; platform: a platform of a deleted index;"
        " referrer: a referrer (signature, SBOM) of a deleted manifest."
    )
    of: str | None = Field(description="The deleted manifest it is a platform or referrer of.")


class PlanOut(BaseModel):
    """What a policy deletes (preview) or deleted (run)."""

    package: str
    tags: list[TagDeletionOut]
    manifests: list[ManifestDeletionOut]
    tags_kept: int
    manifests_kept: int
    deletes_every_tag: bool

    @classmethod
    def of(cls, name: str, plan: Plan) -> PlanOut:
        def age(moment: float) -> int:
            return max(0, int((plan.now - moment) // retention_plan.DAY))

        return cls(
            package=name,
            tags=[
                TagDeletionOut(
                    name=t.name,
                    digest=t.digest,
                    updated_at=timestamp(t.updated_at),
                    age_days=age(t.updated_at),
                )
                for t in plan.tags
            ],
            manifests=[
                ManifestDeletionOut(
                    digest=m.digest,
                    media_type=m.media_type,
                    artifact_type=m.artifact_type,
                    size=m.size,
                    created_at=timestamp(m.created_at),
                    age_days=age(m.created_at),
                    reason=m.reason,
                    of=m.of,
                )
                for m in plan.manifests
            ],
            tags_kept=plan.tags_kept,
            manifests_kept=plan.manifests_kept,
            deletes_every_tag=plan.deletes_every_tag,
        )


@router.get("/packages/{name:path}/-/retention")
async def get_retention(name: PackageName, tx: DbTx, principal: CurrentPrincipal) -> PolicyOut:
    """The package's retention policy (read); 404 when it has none."""
    return PolicyOut.of(await retention.get_policy(tx, principal, name))


@router.put("/packages/{name:path}/-/retention", responses=responses(409))
async def put_retention(
    name: PackageName,
    body: PolicyUpdate,
    tx: DbTx,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
) -> PolicyOut:
    """Set the package's retention policy (admin). A policy that would delete every tag
    answers 409 unless `confirm_delete_all_tags` is true. Nothing is deleted until the
    policy runs (`/-/retention/run`, or garbage collection)."""
    saved, _ = await retention.set_policy(
        tx,
        principal,
        name=name,
        policy=body.policy(),
        now=ctx.now(),
        confirm_delete_all_tags=body.confirm_delete_all_tags,
    )
    return PolicyOut.of(saved)


@router.delete(
    "/packages/{name:path}/-/retention",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
async def delete_retention(name: PackageName, tx: DbTx, principal: CurrentPrincipal) -> None:
    """Remove the package's retention policy (admin)."""
    await retention.remove_policy(tx, principal, name)


@router.post("/packages/{name:path}/-/retention/preview")
async def preview_retention(
    name: PackageName,
    body: PolicyIn,
    tx: DbTx,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
) -> PlanOut:
    """Exactly what this policy would delete now (admin); deletes nothing, saves nothing."""
    planned = await retention.preview(tx, principal, name=name, policy=body.policy(), now=ctx.now())
    return PlanOut.of(name, planned)


@router.post("/packages/{name:path}/-/retention/run")
async def run_retention(
    name: PackageName, tx: DbTx, ctx: CurrentContext, principal: CurrentPrincipal
) -> PlanOut:
    """Apply the saved policy now (admin); lists what was deleted. The bytes go at the
    next garbage collection."""
    return PlanOut.of(name, await retention.run_policy(tx, principal, name=name, now=ctx.now()))
