"""Leases: work that one node at a time does (garbage collection), held in the database
so every node sees the same holder, and expiring so a node that died frees it."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass

from cargohold.metadata.db import Queries


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    holder: str
    expires_at: float


def new_holder() -> str:
    """A name for this process that people can trace: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


async def acquire(db: Queries, name: str, holder: str, *, ttl: float, now: float) -> bool:
    """Take (or renew) the lease for `ttl` seconds; False while someone else holds it."""
    changed = await db.execute(
        "INSERT INTO leases (name, holder, expires_at) VALUES (:name, :holder, :until)"
        " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
        " expires_at = excluded.expires_at"
        " WHERE leases.expires_at < :now OR leases.holder = excluded.holder",
        {"name": name, "holder": holder, "until": now + ttl, "now": now},
    )
    return changed == 1


async def release(db: Queries, name: str, holder: str) -> None:
    await db.execute(
        "DELETE FROM leases WHERE name = :name AND holder = :holder",
        {"name": name, "holder": holder},
    )


async def current(db: Queries, name: str, *, now: float) -> Lease | None:
    row = await db.fetchone(
        "SELECT holder, expires_at FROM leases WHERE name = :name AND expires_at >= :now",
        {"name": name, "now": now},
    )
    return None if row is None else Lease(name, row["holder"], float(row["expires_at"]))
