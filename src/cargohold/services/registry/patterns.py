"""Tag patterns, shared by retention (tags to keep) and tag protection.

A pattern is 1..128 characters of a tag's alphabet (`A-Z a-z 0-9 _ . -`) plus the
wildcards `*` (any run of characters, also none) and `?` (exactly one). It must match
the whole tag, case-sensitively. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from cargohold.services.errors import Invalid

MAX_LENGTH = 128
MAX_PATTERNS = 20
_ALLOWED = re.compile(r"[A-Za-z0-9_.\-*?]+")


def parse_pattern(text: str) -> str:
    """One pattern, or Invalid naming it and saying what is wrong."""
    shown = text[:140]
    if not text:
        raise Invalid("a tag pattern cannot be empty (is there a comma too many?)")
    if len(text) > MAX_LENGTH:
        raise Invalid(f"tag pattern {shown!r} is longer than {MAX_LENGTH} characters")
    if not _ALLOWED.fullmatch(text):
        raise Invalid(
            f"tag pattern {shown!r} may contain only letters, digits, '_', '.', '-' and the"
            " wildcards '*' and '?'"
        )
    return text


def parse_patterns(items: Iterable[str]) -> tuple[str, ...]:
    """A list of patterns, each checked, duplicates dropped (first one wins)."""
    found: list[str] = []
    for item in items:
        pattern = parse_pattern(item)
        if pattern not in found:
            found.append(pattern)
        if len(found) > MAX_PATTERNS:
            raise Invalid(f"at most {MAX_PATTERNS} tag patterns are allowed")
    return tuple(found)


def split_patterns(text: str) -> tuple[str, ...]:
    """Comma-separated patterns (`v*, release-*`): spaces around a comma are ignored, an
    empty item is refused."""
    return parse_patterns(item.strip() for item in text.split(","))


def join_patterns(patterns: Sequence[str]) -> str:
    return ",".join(patterns)


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


def matches(pattern: str, tag: str) -> bool:
    return _compiled(pattern).fullmatch(tag) is not None


def first_match(patterns: Iterable[str], tag: str) -> str | None:
    """The first pattern that matches the whole tag, if any."""
    return next((p for p in patterns if matches(p, tag)), None)
