"""Tag protection: tags matching a package's patterns (`v*`, `release-*`) may be moved to
another manifest or deleted only by a package admin. Creating such a tag, or pushing the
same manifest to it again, is open to every writer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from cargohold.authz.roles import Role
from cargohold.metadata.db import Queries
from cargohold.oci.errors import Denied
from cargohold.services.registry import patterns
from cargohold.services.registry.packages import find_package

MayOverride = Callable[[], Awaitable[bool]]


async def patterns_of(db: Queries, package_id: int) -> tuple[str, ...]:
    rows = await db.fetchall(
        "SELECT pattern FROM tag_protections WHERE package_id = :p ORDER BY pattern",
        {"p": package_id},
    )
    return tuple(str(row["pattern"]) for row in rows)


async def protecting_rule(
    db: Queries, *, package_id: int, tag: str, moving_to: int | None = None
) -> str | None:
    """The rule that protects an existing tag against this change: deleting it, or (with
    `moving_to`, a manifest id) pointing it at another manifest. None when the change needs
    no more than write: no rule matches, the tag is new, or it already names that manifest."""
    rules = await patterns_of(db, package_id)
    rule = patterns.first_match(rules, tag)
    if rule is None:
        return None
    row = await db.fetchone(
        "SELECT manifest_id FROM tags WHERE package_id = :p AND name = :t",
        {"p": package_id, "t": tag},
    )
    if row is None or (moving_to is not None and int(row["manifest_id"]) == moving_to):
        return None
    return rule


async def protected_among(db: Queries, name: str, tags: Sequence[str]) -> dict[str, str]:
    """Which of these tags of package `name` only a package admin may move or delete, each
    with the rule that protects it."""
    rules = await patterns_of(db, await find_package(db, name))
    found = {tag: patterns.first_match(rules, tag) for tag in tags} if rules else {}
    return {tag: rule for tag, rule in found.items() if rule is not None}


def refusal(name: str, tag: str, rule: str) -> str:
    return (
        f"tag {tag!r} is protected by the rule {rule!r} of package {name}: only a package admin"
        " may move or delete it"
    )


async def guard_tag(
    db: Queries,
    *,
    package_id: int,
    name: str,
    tag: str,
    may_override: MayOverride | None,
    moving_to: int | None = None,
) -> None:
    """Refuse (DENIED) a registry client's change to a protected tag unless `may_override`
    says the caller is a package admin; it is asked only when a rule applies."""
    rule = await protecting_rule(db, package_id=package_id, tag=tag, moving_to=moving_to)
    if rule is None or (may_override is not None and await may_override()):
        return
    raise Denied(
        refusal(name, tag, rule),
        detail={"name": name, "tag": tag, "rule": rule, "required": Role.ADMIN.label},
    )
