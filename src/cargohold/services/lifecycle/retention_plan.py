"""Retention rules, decided without I/O: a policy, checked, and the plan of what it
deletes from a package's graph (services/retention.py reads and writes the database).

- Tags go only when `keep_newest` or `tag_days` is set: a tag goes when it is not among
  the newest N (by push time, then name), is older than `tag_days`, and matches no keep
  pattern and no tag-protection rule of the package.
- Manifests go only when `untagged_days` is set: images pushed on their own (not a
  platform of an index, not a referrer) that have no tag left after the tag deletions
  and are older than `untagged_days`, with what hangs off them (the platforms of an
  index, referrers such as signatures), except what a kept tag or image still reaches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cargohold.services.errors import Invalid
from cargohold.services.lifecycle.reachability import PackageGraph
from cargohold.services.registry import patterns

DAY = 86400
MAX_KEEP_NEWEST = 10_000
MAX_DAYS = 36_500
MAX_KEEP_PATTERN = 500  # the column's width

Reason = Literal["untagged", "platform", "referrer"]


@dataclass(frozen=True, slots=True)
class Policy:
    keep_newest: int | None = None
    keep_pattern: tuple[str, ...] = ()
    untagged_days: int | None = None
    tag_days: int | None = None

    @property
    def deletes_tags(self) -> bool:
        return self.keep_newest is not None or self.tag_days is not None


def _bounded(field_name: str, value: int | None, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise Invalid(f"{field_name} must be a whole number from 1 to {high}, not {value!r}")
    return value


def make_policy(
    *,
    keep_newest: int | None = None,
    keep_pattern: str | None = None,
    untagged_days: int | None = None,
    tag_days: int | None = None,
) -> Policy:
    """A checked policy, or Invalid saying what is wrong with it."""
    policy = Policy(
        keep_newest=_bounded("keep_newest", keep_newest, MAX_KEEP_NEWEST),
        keep_pattern=_keep_pattern(keep_pattern),
        untagged_days=_bounded("untagged_days", untagged_days, MAX_DAYS),
        tag_days=_bounded("tag_days", tag_days, MAX_DAYS),
    )
    if not policy.deletes_tags and policy.untagged_days is None:
        raise Invalid(
            "a retention policy needs at least one of keep_newest, tag_days or untagged_days;"
            " keep patterns alone delete nothing"
        )
    return policy


def _keep_pattern(text: str | None) -> tuple[str, ...]:
    if text is None or not text.strip():
        return ()
    if len(text) > MAX_KEEP_PATTERN:
        raise Invalid(f"keep_pattern is longer than {MAX_KEEP_PATTERN} characters")
    return patterns.split_patterns(text)


@dataclass(frozen=True, slots=True)
class TagDeletion:
    name: str
    digest: str
    updated_at: float


@dataclass(frozen=True, slots=True)
class ManifestDeletion:
    digest: str
    media_type: str
    artifact_type: str | None
    size: int
    created_at: float
    reason: Reason
    of: str | None  # the deleted manifest it is a platform or referrer of


@dataclass(frozen=True, slots=True)
class Plan:
    now: float
    tags: list[TagDeletion]
    manifests: list[ManifestDeletion]
    tags_kept: int
    manifests_kept: int

    @property
    def deletes_every_tag(self) -> bool:
        return bool(self.tags) and self.tags_kept == 0


_REASON_ORDER = {"untagged": 0, "platform": 1, "referrer": 2}


def plan(graph: PackageGraph, policy: Policy, *, protected: Sequence[str], now: float) -> Plan:
    """What `policy` deletes from a package now: tags, then manifests (see the module doc)."""
    deleted_tags = _tags_to_delete(graph, policy, protected, now) if policy.deletes_tags else []
    gone = {tag.name for tag in deleted_tags}
    manifests: list[ManifestDeletion] = []
    if policy.untagged_days is not None:
        tagged = {tag.digest for tag in graph.tags if tag.name not in gone}
        cutoff = now - policy.untagged_days * DAY
        roots = {d for d, node in graph.manifests.items() if node.is_root}
        doomed = {d for d in roots - tagged if graph.manifests[d].created_at < cutoff}
        kept = graph.closure(tagged | (roots - doomed))
        deleted = graph.closure(doomed) - kept
        manifests = _explain(graph, doomed, deleted)
    return Plan(
        now=now,
        tags=sorted(deleted_tags, key=lambda t: t.name),
        manifests=manifests,
        tags_kept=len(graph.tags) - len(deleted_tags),
        manifests_kept=len(graph.manifests) - len(manifests),
    )


def _tags_to_delete(
    graph: PackageGraph, policy: Policy, protected: Sequence[str], now: float
) -> list[TagDeletion]:
    newest: set[str] = set()
    if policy.keep_newest is not None:
        ordered = sorted(graph.tags, key=lambda t: (-t.updated_at, t.name))
        newest = {t.name for t in ordered[: policy.keep_newest]}
    cutoff = None if policy.tag_days is None else now - policy.tag_days * DAY
    found = []
    for tag in graph.tags:
        if tag.name in newest or (cutoff is not None and tag.updated_at >= cutoff):
            continue
        if patterns.first_match(policy.keep_pattern, tag.name) is not None:
            continue
        if patterns.first_match(protected, tag.name) is not None:
            continue
        found.append(TagDeletion(tag.name, tag.digest, tag.updated_at))
    return found


def _explain(graph: PackageGraph, roots: set[str], deleted: set[str]) -> list[ManifestDeletion]:
    """Each deleted manifest with why it goes: an untagged image, or reached from one."""
    why: dict[str, tuple[Reason, str | None]] = {d: ("untagged", None) for d in roots & deleted}
    pending = sorted(why)
    while pending:
        digest = pending.pop(0)
        steps: list[tuple[Reason, set[str]]] = [
            ("platform", graph.children.get(digest, set())),
            ("referrer", graph.referrers.get(digest, set())),
        ]
        for reason, found in steps:
            for nxt in sorted(found):
                if nxt in deleted and nxt not in why:
                    why[nxt] = (reason, digest)
                    pending.append(nxt)
    result = []
    for digest, (reason, of) in why.items():
        node = graph.manifests[digest]
        result.append(
            ManifestDeletion(
                digest=digest,
                media_type=node.media_type,
                artifact_type=node.artifact_type,
                size=node.size,
                created_at=node.created_at,
                reason=reason,
                of=of,
            )
        )
    return sorted(result, key=lambda m: (_REASON_ORDER[m.reason], m.digest))
