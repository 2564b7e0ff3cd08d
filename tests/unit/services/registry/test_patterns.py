"""Tag patterns: a tag's alphabet plus `*` and `?`, matching the whole tag, case-sensitively."""

from __future__ import annotations

import pytest

from cargohold.services.errors import Invalid
from cargohold.services.registry.patterns import (
    first_match,
    matches,
    parse_patterns,
    split_patterns,
)

MATCHES = [
    ("v*", "v1.0", True),
    ("v*", "v", True),
    ("v*", "av1", False),
    ("v*", "V1", False),
    ("release-*", "release-2024.01", True),
    ("release-*", "release", False),
    ("v?.?", "v1.2", True),
    ("v?.?", "v1.22", False),
    ("*-rc*", "v1.0-rc1", True),
    ("latest", "latest", True),
    ("latest", "latest2", False),
    ("*", "anything_at.all-", True),
    ("a.b", "axb", False),  # the dot is a dot, not any character
    ("sha256-*.sig", "sha256-abc.sig", True),
]


@pytest.mark.parametrize(("pattern", "tag", "expected"), MATCHES)
def test_a_pattern_matches_the_whole_tag(pattern: str, tag: str, expected: bool) -> None:
    assert matches(pattern, tag) is expected


def test_first_match_names_the_rule() -> None:
    assert first_match(("release-*", "v*"), "v2") == "v*"
    assert first_match(("release-*", "v*"), "main") is None
    assert first_match((), "v2") is None


def test_comma_separated_patterns_ignore_spaces_around_commas() -> None:
    assert split_patterns("v*, release-* ,stable") == ("v*", "release-*", "stable")


def test_duplicates_are_dropped() -> None:
    assert parse_patterns(["v*", "b", "v*"]) == ("v*", "b")


def test_twenty_patterns_are_allowed() -> None:
    assert len(parse_patterns([f"p{n}" for n in range(20)])) == 20


INVALID = [
    ("", "empty"),
    ("v 1", "'v 1'"),
    ("v[0-9]", "'v[0-9]'"),
    ("a/b", "'a/b'"),
    ("v1:2", "'v1:2'"),
    ("tag\n", "'tag\\n'"),
    ("é*", "'é*'"),
    ("x" * 129, "longer than 128"),
]


@pytest.mark.parametrize(("pattern", "said"), INVALID)
def test_an_invalid_pattern_is_refused_naming_it(pattern: str, said: str) -> None:
    with pytest.raises(Invalid) as raised:
        parse_patterns([pattern])
    assert said in raised.value.message


@pytest.mark.parametrize("text", ["v*,", ",v*", "v*,,b", ","])
def test_an_empty_item_is_refused(text: str) -> None:
    with pytest.raises(Invalid, match="empty"):
        split_patterns(text)


def test_more_than_twenty_patterns_are_refused() -> None:
    with pytest.raises(Invalid, match="at most 20"):
        parse_patterns([f"p{n}" for n in range(21)])


def test_a_pattern_of_128_characters_is_allowed() -> None:
    assert parse_patterns(["x" * 127 + "*"]) == ("x" * 127 + "*",)
