"""/gc/runs: what each garbage collection did (site admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from cargohold.metadata.schema import MAX_ID
from cargohold.services.lifecycle.checked import gc_history
from cargohold.services.lifecycle.gc_history import GcRun
from cargohold.web.api.deps import CurrentPrincipal, DbTx
from cargohold.web.api.models import Items, timestamp
from cargohold.web.api.problems import responses

router = APIRouter(tags=["garbage collection"], responses=responses(401, 403, 422))


class GcRunOut(BaseModel):
    id: int
    holder: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    figures: dict[str, Any]
    error: str | None

    @classmethod
    def of(cls, run: GcRun) -> GcRunOut:
        return cls(
            id=run.id,
            holder=run.holder,
            started_at=timestamp(run.started_at),
            finished_at=None if run.finished_at is None else timestamp(run.finished_at),
            outcome=run.outcome,
            figures=run.report,
            error=run.error,
        )


@router.get("/gc/runs")
async def list_gc_runs(
    tx: DbTx,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="A `next_after` of the page before")
    ] = None,
) -> Items[GcRunOut]:
    """The newest garbage collections, newest first: who ran them, when, what they deleted
    and freed (`figures`), or why they failed. Site admins only. Pages like every list:
    pass `next_after` as `after` for older runs."""
    runs = await gc_history.list_runs(tx, principal, limit=limit + 1, before=after)
    more = len(runs) > limit
    return Items(
        items=[GcRunOut.of(run) for run in runs[:limit]],
        next_after=str(runs[limit - 1].id) if more else None,
    )
