"""The claim conditions of OpenID Connect trust policies: pure matching (docs/access.md).

A condition names a claim of the ID token and a pattern its value must match: an exact
value, or a glob where `*` stands for any run of characters except `/`, `**` for any run
including `/`, and `?` for one character except `/`. So `refs/heads/*` matches
`refs/heads/main` but not `refs/heads/feature/x`, which `refs/heads/**` matches. Nothing
else is special (`{`, `[` and `.` are themselves: Bitbucket's `{uuid}` values are exact).

A claim's value is compared as text: strings as they are, `true` and `false` for booleans,
integers in decimal; a list matches when one of its items does. A missing claim, or one of
another kind (an object, a fraction), matches nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cargohold.authz.errors import ClaimConditionInvalid

MAX_CONDITIONS = 20
MAX_PATTERN = 500
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,199}")
# Claims that a policy checks itself (issuer, audience) or that are times, never conditions.
RESERVED = frozenset({"iss", "aud", "exp", "nbf", "iat", "azp", "nonce", "jti"})


def validate_conditions(conditions: Mapping[str, str]) -> dict[str, str]:
    """The conditions, checked: 1 to 20 of them, each a claim name (letters, digits and
    `_ . : / -`) that is not a reserved claim, with a pattern of 1 to 500 characters that
    does not match everything."""
    if not conditions:
        raise ClaimConditionInvalid(
            "a trust policy needs at least one claim condition, such as repository=acme/web"
            " (an issuer's tokens are often available to anyone who runs a pipeline there)"
        )
    if len(conditions) > MAX_CONDITIONS:
        raise ClaimConditionInvalid(f"a trust policy has at most {MAX_CONDITIONS} conditions")
    checked = {}
    for name, pattern in conditions.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ClaimConditionInvalid(f"{str(name)[:60]!r} is not a claim name")
        if name in RESERVED:
            raise ClaimConditionInvalid(
                f"the claim {name!r} is checked by the policy itself and cannot be a condition"
            )
        if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN:
            raise ClaimConditionInvalid(
                f"the condition on {name!r} needs a value of 1 to {MAX_PATTERN} characters"
            )
        if any(ord(c) < 32 or ord(c) == 127 for c in pattern):
            raise ClaimConditionInvalid(f"the condition on {name!r} holds a control character")
        if set(pattern) <= {"*"}:
            raise ClaimConditionInvalid(
                f"the condition on {name!r} matches every value; name what it must be"
            )
        checked[name] = pattern
    return checked


def parse_condition(text: str) -> tuple[str, str]:
    """`NAME=PATTERN` (as the command line takes it) as a pair."""
    name, sep, pattern = text.partition("=")
    if not sep:
        raise ClaimConditionInvalid(f"{text[:60]!r} is not NAME=VALUE")
    return name.strip(), pattern


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    parts = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            parts.append(".*")
            i += 2
            continue
        if char == "*":
            parts.append("[^/]*")
        elif char == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(char))
        i += 1
    return re.compile("".join(parts), re.DOTALL)


def claim_texts(value: Any) -> list[str] | None:
    """A claim's value as the texts a pattern is matched against; None when it has none."""
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        texts = [claim_texts(item) for item in value if not isinstance(item, list)]
        return [text for found in texts if found for text in found]
    return None


def matches(pattern: str, value: Any) -> bool:
    """Whether a claim's value matches an exact value or glob."""
    texts = claim_texts(value)
    if not texts:
        return False
    compiled = _compile(pattern)
    return any(compiled.fullmatch(text) is not None for text in texts)


def mismatch(conditions: Mapping[str, str], claims: Mapping[str, Any]) -> str | None:
    """Why the claims do not meet the conditions (the first claim that fails, with the
    value the token has), or None when they all hold."""
    for name, pattern in sorted(conditions.items()):
        if name not in claims:
            return f"the token has no {name!r} claim"
        if not matches(pattern, claims[name]):
            shown = str(claims[name])
            shown = shown if len(shown) <= 120 else shown[:117] + "..."
            return f"the claim {name!r} is {shown!r}, which the policy does not accept"
    return None
