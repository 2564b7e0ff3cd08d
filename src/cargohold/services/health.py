"""Readiness: whether the parts a node needs (database, store) answer right now."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass

from cargohold.metadata import revision
from cargohold.oci.errors import RegistryError
from cargohold.services.context import Context

CHECK_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    error: str | None = None


async def _database(ctx: Context) -> Check:
    row = await ctx.db.fetchone("SELECT version_num FROM alembic_version")
    found = None if row is None else str(row["version_num"])
    if revision.behind(found):
        return Check(
            False,
            f"schema is at revision {found}, this node needs {revision.HEAD}:"
            " run `cargohold db upgrade`",
        )
    return Check(True)


async def _storage(ctx: Context) -> Check:
    await ctx.storage.check()
    return Check(True)


async def _run(probe: Awaitable[Check]) -> Check:
    try:
        return await asyncio.wait_for(probe, CHECK_TIMEOUT)
    except TimeoutError:
        return Check(False, f"no answer within {CHECK_TIMEOUT:g} s")
    except RegistryError as exc:
        return Check(False, exc.message)
    except Exception as exc:  # readiness reports every failure, whatever its kind
        return Check(False, f"{type(exc).__name__}: {exc}")


async def readiness(ctx: Context) -> dict[str, Check]:
    """Each part's state, checked concurrently, each within a few seconds."""
    database, storage = await asyncio.gather(
        _run(_database(ctx)),
        _run(_storage(ctx)),
    )
    return {"database": database, "storage": storage}
