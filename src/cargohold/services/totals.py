"""What the registry holds, counted for the metrics: blobs and their bytes, packages, and
upload sessions open now. A few aggregate queries: the metrics server runs them at most
every so often (web/exposition.py), never per request."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.metadata.db import Queries


@dataclass(frozen=True, slots=True)
class Stored:
    blobs: int
    blob_bytes: int
    packages: int


async def stored(db: Queries) -> Stored:
    blobs = await db.fetchone("SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM blobs")
    packages = await db.fetchone("SELECT COUNT(*) AS n FROM packages")
    assert blobs is not None and packages is not None
    return Stored(int(blobs["n"]), int(blobs["bytes"]), int(packages["n"]))


async def open_uploads(db: Queries, *, now: float, idle_expiry: float) -> int:
    """Upload sessions used within `idle_expiry` (older ones are expired, whether or not
    the sweep has removed them yet)."""
    row = await db.fetchone(
        "SELECT COUNT(*) AS n FROM uploads WHERE updated_at > :since",
        {"since": now - idle_expiry},
    )
    assert row is not None
    return int(row["n"])
