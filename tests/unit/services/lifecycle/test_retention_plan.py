"""The retention plan as tables: one package graph, each rule's deletions.

The graph (ages in days):

| tag         | names | tag age | image age |
| ----------- | ----- | ------- | --------- |
| t1 … t6     | i1…i6 | 61, 51, 41, 30, 21, 11 (t4: exactly 30) | same |
| v1          | i7    | 90      | 90        |
| release-1   | i8    | 80      | 80        |
| multi       | idx   | 70      | 70: platforms c1, c2; `sig` signs idx, `sbom` describes c1 |

Untagged: `u_old` (100), `u_young` (1), `idx2` (100: platforms c1 (shared with idx) and c3;
`sig2` signs idx2, `att` attests c3), and `stray`, a referrer of a manifest that is not
there (never retention's to delete: it hangs off nothing retention deletes).
"""

from __future__ import annotations

from typing import Any

import pytest

from cargohold.services.errors import Invalid
from cargohold.services.lifecycle.reachability import ManifestNode, PackageGraph, TagNode
from cargohold.services.lifecycle.retention_plan import DAY, Policy, make_policy, plan

NOW = 2_000_000_000.0
IMAGE = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"

# digest: (age in days, children, subject)
MANIFESTS: dict[str, tuple[float, list[str], str | None]] = {
    **{f"i{n}": (age, [], None) for n, age in enumerate((61, 51, 41, 30, 21, 11, 90, 80), 1)},
    "idx": (70, ["c1", "c2"], None),
    "c1": (70, [], None),
    "c2": (70, [], None),
    "sig": (70, [], "idx"),
    "sbom": (70, [], "c1"),
    "u_old": (100, [], None),
    "u_young": (1, [], None),
    "idx2": (100, ["c1", "c3"], None),
    "c3": (100, [], None),
    "sig2": (100, [], "idx2"),
    "att": (100, [], "c3"),
    "stray": (100, [], "gone"),
}
TAGS: dict[str, tuple[str, float]] = {
    **{f"t{n}": (f"i{n}", MANIFESTS[f"i{n}"][0]) for n in range(1, 7)},
    "v1": ("i7", 90),
    "release-1": ("i8", 80),
    "multi": ("idx", 70),
}
ALL_TAGS = set(TAGS)


def graph(
    manifests: dict[str, tuple[float, list[str], str | None]] = MANIFESTS,
    tags: dict[str, tuple[str, float]] = TAGS,
) -> PackageGraph:
    built = PackageGraph()
    named = {child for _, children, _ in manifests.values() for child in children}
    for number, (digest, (age, children, subject)) in enumerate(manifests.items()):
        node = ManifestNode(
            id=number,
            digest=digest,
            media_type=INDEX if children else IMAGE,
            size=100,
            created_at=NOW - age * DAY,
            is_child=digest in named,
            subject=subject,
            artifact_type="application/example" if subject else None,
        )
        built.add_manifest(node, children)
    for name, (digest, age) in tags.items():
        built.tags.append(TagNode(name, digest, NOW - age * DAY))
    return built


def deleted(policy: Policy, protected: tuple[str, ...] = ()) -> tuple[set[str], set[str]]:
    found = plan(graph(), policy, protected=protected, now=NOW)
    return {t.name for t in found.tags}, {m.digest for m in found.manifests}


OLD_IDX2 = {"u_old", "idx2", "c3", "sig2", "att"}  # what untagged_days 30 deletes alone

RULES: list[tuple[str, dict[str, Any], tuple[str, ...], set[str], set[str]]] = [
    # id, policy, protection rules, tags deleted, manifests deleted
    (
        "keep_newest",
        {"keep_newest": 3},
        (),
        {"t1", "t2", "t3", "multi", "release-1", "v1"},
        set(),
    ),
    ("keep_newest_above_the_tag_count", {"keep_newest": 100}, (), set(), set()),
    (
        "keep_pattern",
        {"keep_newest": 3, "keep_pattern": "v*,release-*"},
        (),
        {"t1", "t2", "t3", "multi"},
        set(),
    ),
    (
        "keep_pattern_with_wildcard_one",
        {"keep_newest": 3, "keep_pattern": "t?"},
        (),
        {"multi", "release-1", "v1"},
        set(),
    ),
    ("tag_days", {"tag_days": 45}, (), {"t1", "t2", "multi", "release-1", "v1"}, set()),
    (
        "tag_days_is_strictly_older",
        {"tag_days": 30},
        (),
        {"t1", "t2", "t3", "multi", "release-1", "v1"},
        set(),
    ),
    ("keep_newest_and_tag_days_both_allow", {"keep_newest": 8, "tag_days": 45}, (), {"v1"}, set()),
    ("untagged_days", {"untagged_days": 30}, (), set(), OLD_IDX2),
    ("untagged_days_older_than_everything", {"untagged_days": 200}, (), set(), set()),
    (
        "deleted_tags_leave_old_images_to_untagged_days",
        {"keep_newest": 1, "untagged_days": 30},
        (),
        ALL_TAGS - {"t6"},
        {"i1", "i2", "i3", "i7", "i8", "idx", "c1", "c2", "sig", "sbom"} | OLD_IDX2,
    ),
    (
        "protected_tags_are_never_deleted",
        {"tag_days": 1},
        ("v*", "multi"),
        ALL_TAGS - {"v1", "multi"},
        set(),
    ),
    (
        "protected_tags_keep_their_images",
        {"keep_newest": 1, "untagged_days": 30},
        ("multi",),
        ALL_TAGS - {"t6", "multi"},
        {"i1", "i2", "i3", "i7", "i8"} | OLD_IDX2,
    ),
]


@pytest.mark.parametrize(
    ("policy", "protected", "tags", "manifests"),
    [pytest.param(*row[1:], id=row[0]) for row in RULES],
)
def test_rule(
    policy: dict[str, Any], protected: tuple[str, ...], tags: set[str], manifests: set[str]
) -> None:
    assert deleted(make_policy(**policy), protected) == (tags, manifests)


def test_ties_in_push_time_are_broken_by_name() -> None:
    same = {name: ("i1", 5.0) for name in ("b", "a", "c")}
    found = plan(graph(tags=same), Policy(keep_newest=2), protected=(), now=NOW)
    assert [t.name for t in found.tags] == ["c"]


def test_the_children_of_a_kept_index_are_kept() -> None:
    """c1 is a platform of the deleted idx2 and of the tagged idx: it stays, with sbom."""
    _, manifests = deleted(Policy(untagged_days=30))
    assert not {"c1", "sbom", "idx", "c2", "sig"} & manifests


def test_referrers_of_a_kept_manifest_are_kept() -> None:
    tagged_child = {**TAGS, "platform": ("c3", 1.0)}
    found = plan(graph(tags=tagged_child), Policy(untagged_days=30), protected=(), now=NOW)
    assert {m.digest for m in found.manifests} == {"u_old", "idx2", "sig2"}  # c3, att stay


def test_a_referrer_of_nothing_is_not_retentions_to_delete() -> None:
    _, manifests = deleted(Policy(keep_newest=1, untagged_days=1))
    assert "stray" not in manifests


def test_each_deleted_manifest_says_why() -> None:
    found = plan(graph(), Policy(untagged_days=30), protected=(), now=NOW)
    why = {m.digest: (m.reason, m.of) for m in found.manifests}
    assert why == {
        "u_old": ("untagged", None),
        "idx2": ("untagged", None),
        "c3": ("platform", "idx2"),
        "sig2": ("referrer", "idx2"),
        "att": ("referrer", "c3"),
    }
    assert [m.reason for m in found.manifests] == sorted(
        (m.reason for m in found.manifests), key=["untagged", "platform", "referrer"].index
    )
    media = {m.digest: m.media_type for m in found.manifests}
    assert media["idx2"] == INDEX and media["c3"] == IMAGE


def test_deleted_tags_name_their_digest_and_push_time() -> None:
    found = plan(graph(), Policy(tag_days=80), protected=(), now=NOW)
    assert [(t.name, t.digest, t.updated_at) for t in found.tags] == [("v1", "i7", NOW - 90 * DAY)]


def test_counts_kept() -> None:
    found = plan(graph(), Policy(keep_newest=3, untagged_days=30), protected=(), now=NOW)
    assert found.tags_kept == 3
    assert found.manifests_kept == len(MANIFESTS) - len(found.manifests)


def test_a_plan_that_deletes_every_tag_says_so() -> None:
    assert plan(graph(), Policy(tag_days=1), protected=(), now=NOW).deletes_every_tag
    assert not plan(graph(), Policy(keep_newest=1), protected=(), now=NOW).deletes_every_tag
    empty = plan(graph(tags={}), Policy(tag_days=1), protected=(), now=NOW)
    assert not empty.deletes_every_tag


def test_an_empty_package_has_nothing_to_delete() -> None:
    found = plan(PackageGraph(), Policy(keep_newest=1, untagged_days=1), protected=(), now=NOW)
    assert (found.tags, found.manifests, found.tags_kept, found.manifests_kept) == ([], [], 0, 0)


# Checking a policy.


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({}, "at least one of keep_newest, tag_days or untagged_days"),
        ({"keep_pattern": "v*"}, "keep patterns alone delete nothing"),
        ({"keep_newest": 0}, "keep_newest must be a whole number from 1 to 10000"),
        ({"keep_newest": 10_001}, "from 1 to 10000"),
        ({"untagged_days": 0}, "untagged_days must be a whole number from 1 to 36500"),
        ({"tag_days": 36_501}, "tag_days must be"),
        ({"tag_days": True}, "tag_days must be"),
        ({"keep_newest": 1, "keep_pattern": "v*,"}, "empty"),
        ({"keep_newest": 1, "keep_pattern": "v[1]"}, "'v[1]'"),
        ({"keep_newest": 1, "keep_pattern": "a," * 251}, "longer than 500"),
    ],
)
def test_an_invalid_policy_is_refused_with_a_message(fields: dict[str, Any], said: str) -> None:
    with pytest.raises(Invalid) as raised:
        make_policy(**fields)
    assert said in raised.value.message


def test_a_valid_policy() -> None:
    policy = make_policy(keep_newest=10, keep_pattern=" v*, rc-? ", untagged_days=7, tag_days=90)
    assert policy == Policy(10, ("v*", "rc-?"), 7, 90)
    assert make_policy(untagged_days=1, keep_pattern="").keep_pattern == ()
    assert make_policy(keep_newest=10_000, tag_days=36_500).deletes_tags
