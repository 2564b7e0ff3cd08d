"""Packages (OCI repositories): find them, and create them on first push."""

from __future__ import annotations

from cargohold.metadata.db import Queries
from cargohold.oci.errors import NameUnknown
from cargohold.oci.names import validate_name


async def find_package(db: Queries, name: str) -> int:
    row = await db.fetchone("SELECT id FROM packages WHERE name = :name", {"name": name})
    if row is None:
        raise NameUnknown(
            f"repository {name!r} is not known to this registry", detail={"name": name}
        )
    return int(row["id"])


async def ensure_package(db: Queries, name: str, now: float) -> int:
    """The package's id, creating it when absent (development mode creates on first push)."""
    validate_name(name)
    await db.execute(
        "INSERT INTO packages (name, created_at) VALUES (:name, :now) ON CONFLICT DO NOTHING",
        {"name": name, "now": now},
    )
    return await find_package(db, name)


async def list_packages(db: Queries, *, limit: int, last: str | None) -> tuple[list[str], bool]:
    """Package names in lexical order after `last`; the flag says whether more remain."""
    rows = await db.fetchall(
        "SELECT name FROM packages WHERE name > :last ORDER BY name LIMIT :limit",
        {"last": last or "", "limit": limit + 1},
    )
    names = [row["name"] for row in rows]
    return names[:limit], len(names) > limit
