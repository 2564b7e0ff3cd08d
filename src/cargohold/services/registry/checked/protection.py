"""Tag protection as people manage it: the package's patterns, read and changed by its admins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cargohold.authz.roles import Role
from cargohold.metadata.db import Queries
from cargohold.services.accounts.principals import Principal, require_package
from cargohold.services.events import outbox
from cargohold.services.registry import patterns
from cargohold.services.registry.packages import find_package
from cargohold.services.registry.protection import patterns_of


@dataclass(frozen=True, slots=True)
class Protection:
    package: str
    patterns: tuple[str, ...]


async def get_protection(db: Queries, principal: Principal, name: str) -> Protection:
    """The package's protected tag patterns (read on the package)."""
    await require_package(db, principal, name, Role.READ)
    return Protection(name, await patterns_of(db, await find_package(db, name)))


async def set_protection(
    tx: Queries, principal: Principal, *, name: str, rules: Sequence[str], now: float
) -> Protection:
    """Replace the package's protected tag patterns (admin); an empty list removes them."""
    await require_package(tx, principal, name, Role.ADMIN)
    wanted = patterns.parse_patterns(rules)
    package_id = await find_package(tx, name)
    current = set(await patterns_of(tx, package_id))
    for old in current - set(wanted):
        await tx.execute(
            "DELETE FROM tag_protections WHERE package_id = :p AND pattern = :pattern",
            {"p": package_id, "pattern": old},
        )
    for new in [p for p in wanted if p not in current]:
        await tx.execute(
            "INSERT INTO tag_protections (package_id, pattern, created_at, created_by)"
            " VALUES (:p, :pattern, :now, :by)",
            {"p": package_id, "pattern": new, "now": now, "by": principal.display},
        )
    after = await patterns_of(tx, package_id)
    if set(after) != current:
        await outbox.record(
            tx,
            "settings.changed",
            package=name,
            target=f"protected tags of {name}: {', '.join(after) or 'none'}",
            data={"setting": "protection", "from": sorted(current), "to": list(after)},
            at=now,
        )
    return Protection(name, after)
