"""Tags and images as people manage them: listed and deleted, each checked against the
principal's role on the package."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cargohold.authz.roles import Role
from cargohold.metadata.db import Queries
from cargohold.oci.digest import is_digest
from cargohold.services.accounts.principals import (
    Principal,
    require_package,
)
from cargohold.services.errors import Conflict, Forbidden, Invalid, NotFound
from cargohold.services.events.downloads import TAG_DOWNLOADS
from cargohold.services.registry import protection
from cargohold.services.registry.manifests import (
    held_by,
    holding_indexes,
    record_manifest_deleted,
    record_tag_deleted,
    tag_digest,
    tags_of,
)
from cargohold.services.registry.packages import find_package


@dataclass(frozen=True, slots=True)
class TagInfo:
    name: str
    digest: str
    media_type: str
    size: int
    updated_at: float
    downloads: int = 0  # pulls by this tag, all time (written every few seconds)


async def browse_tags(
    db: Queries, principal: Principal, *, name: str, limit: int, after: str | None = None
) -> tuple[list[TagInfo], bool]:
    """A package's tags with the manifests they name, in name order after `after`."""
    await require_package(db, principal, name, Role.READ)
    rows = await db.fetchall(
        f"SELECT t.name, t.updated_at, m.digest, m.media_type, m.size, {TAG_DOWNLOADS} AS downloads"
        " FROM packages p"
        " JOIN tags t ON t.package_id = p.id JOIN manifests m ON m.id = t.manifest_id"
        " WHERE p.name = :name AND t.name > :after ORDER BY t.name LIMIT :n",
        {"name": name, "after": after or "", "n": limit + 1},
    )
    tags = [
        TagInfo(
            row["name"],
            row["digest"],
            row["media_type"],
            int(row["size"]),
            row["updated_at"],
            int(row["downloads"]),
        )
        for row in rows
    ]
    return tags[:limit], len(tags) > limit


# What names a row of each table within its package: a tag by its name, an image by digest.
_KEYS = {"tags": "name", "manifests": "digest"}


async def _delete(db: Queries, table: Literal["tags", "manifests"], *, name: str, key: str) -> bool:
    """Delete a tag or a manifest of the package `name`; False when there was none."""
    removed = await db.execute(
        f"DELETE FROM {table} WHERE {_KEYS[table]} = :key"
        " AND package_id = (SELECT id FROM packages WHERE name = :name)",
        {"name": name, "key": key},
    )
    return bool(removed)


async def remove_tag(db: Queries, principal: Principal, *, name: str, tag: str) -> None:
    """Delete a tag (write); a protected tag only as a package admin."""
    role = await require_package(db, principal, name, Role.WRITE)
    package_id = await find_package(db, name)
    if role < Role.ADMIN:
        rule = await protection.protecting_rule(db, package_id=package_id, tag=tag)
        if rule is not None:
            raise Forbidden(protection.refusal(name, tag, rule))
    digest = await tag_digest(db, package_id=package_id, tag=tag)
    if not await _delete(db, "tags", name=name, key=tag):
        raise NotFound(f"no tag {tag[:128]!r} in {name}")
    await record_tag_deleted(db, name=name, tag=tag, digest=digest)


async def remove_image(db: Queries, principal: Principal, *, name: str, digest: str) -> None:
    """Delete an image version by digest, with every tag naming it; needs admin. A platform
    image of an index is refused (Conflict, naming the index and its tags): the index
    could no longer be pulled; deleting the index takes its platform images with it."""
    await require_package(db, principal, name, Role.ADMIN)
    if not is_digest(digest):
        raise Invalid(f"{digest[:150]!r} is not a digest")
    package_id = await find_package(db, name)
    indexes = await holding_indexes(db, package_id=package_id, digest=digest)
    if indexes:
        raise Conflict(held_by(digest, indexes))
    tags = await tags_of(db, package_id=package_id, digest=digest)
    if not await _delete(db, "manifests", name=name, key=digest):
        raise NotFound(f"no image {digest[:150]!r} in {name}")
    await record_manifest_deleted(db, name=name, digest=digest, tags=tags)
