"""What each garbage collection did: recorded by the collector, read by operators."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cargohold.metadata.db import Queries

KEPT = 100


@dataclass(frozen=True, slots=True)
class GcRun:
    id: int
    holder: str
    started_at: float
    finished_at: float | None
    outcome: str  # running, done, failed
    report: dict[str, Any]
    error: str | None


async def started(db: Queries, *, holder: str, now: float) -> int:
    await db.execute(
        "INSERT INTO gc_runs (holder, started_at, outcome) VALUES (:holder, :now, 'running')",
        {"holder": holder, "now": now},
    )
    row = await db.fetchone(
        "SELECT MAX(id) AS id FROM gc_runs WHERE holder = :holder", {"holder": holder}
    )
    assert row is not None
    await db.execute("DELETE FROM gc_runs WHERE id <= :old", {"old": int(row["id"]) - KEPT})
    return int(row["id"])


async def finished(
    db: Queries,
    run_id: int,
    *,
    now: float,
    report: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    await db.execute(
        "UPDATE gc_runs SET finished_at = :now, outcome = :outcome, report = :report,"
        " error = :error WHERE id = :id",
        {
            "id": run_id,
            "now": now,
            "outcome": "failed" if error is not None else "done",
            "report": None if report is None else json.dumps(report),
            "error": error,
        },
    )


async def recent(db: Queries, *, limit: int = 20, before: int | None = None) -> list[GcRun]:
    """The newest runs, newest first; with `before`, those older than that run's id."""
    older = "" if before is None else " WHERE id < :before"
    rows = await db.fetchall(
        "SELECT id, holder, started_at, finished_at, outcome, report, error FROM gc_runs"
        f"{older} ORDER BY id DESC LIMIT :n",
        {"n": limit, "before": before},
    )
    return [
        GcRun(
            id=int(row["id"]),
            holder=row["holder"],
            started_at=float(row["started_at"]),
            finished_at=None if row["finished_at"] is None else float(row["finished_at"]),
            outcome=row["outcome"],
            report=json.loads(row["report"]) if row["report"] else {},
            error=row["error"],
        )
        for row in rows
    ]
