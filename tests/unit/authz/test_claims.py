"""Claim conditions of trust policies: exact values and globs, as tables."""

from __future__ import annotations

from typing import Any

import pytest

from cargohold.authz.claims import matches, mismatch, parse_condition, validate_conditions
from cargohold.authz.errors import ClaimConditionInvalid

MATCHES: list[tuple[str, Any, bool]] = [
    # an exact value is itself and nothing more
    ("acme/web", "acme/web", True),
    ("acme/web", "acme/web2", False),
    ("acme/web", "ACME/web", False),
    # `*` stays within a path segment, `**` crosses them, `?` is one character
    ("refs/heads/*", "refs/heads/main", True),
    ("refs/heads/*", "refs/heads/feature/x", False),
    ("refs/heads/**", "refs/heads/feature/x", True),
    ("acme/*", "acme/web", True),
    ("acme/*", "globex/web", False),
    ("release-?", "release-1", True),
    ("release-?", "release-10", False),
    ("v*.*", "v1.2", True),
    ("v*.*", "v12", False),  # `.` is a dot
    # nothing else is special: Bitbucket's {uuid} values are exact
    ("{9f0c2a4e-52c1}", "{9f0c2a4e-52c1}", True),
    ("[ab]", "a", False),
    ("a+b", "a+b", True),
    # values that are not strings
    ("true", True, True),
    ("false", True, False),
    ("42", 42, True),
    ("4*", 42, True),
    ("main", ["dev", "main"], True),
    ("main", ["dev"], False),
    ("x", {"x": 1}, False),
    ("1.5", 1.5, False),
    ("x", None, False),
]


@pytest.mark.parametrize(("pattern", "value", "expected"), MATCHES)
def test_a_value_matches_an_exact_value_or_a_glob(pattern: str, value: Any, expected: bool) -> None:
    assert matches(pattern, value) is expected


def test_every_condition_must_hold() -> None:
    conditions = {"repository": "acme/web", "ref": "refs/heads/main"}
    assert mismatch(conditions, {"repository": "acme/web", "ref": "refs/heads/main"}) is None
    found = mismatch(conditions, {"repository": "acme/web", "ref": "refs/heads/dev"})
    assert found == "the claim 'ref' is 'refs/heads/dev', which the policy does not accept"


def test_a_missing_claim_fails_its_condition() -> None:
    assert mismatch({"environment": "prod"}, {}) == "the token has no 'environment' claim"


def test_a_long_claim_value_is_cut_in_the_message() -> None:
    found = mismatch({"ref": "main"}, {"ref": "x" * 500})
    assert found is not None and len(found) < 200


INVALID: list[tuple[dict[str, Any], str]] = [
    ({}, "at least one claim condition"),
    ({f"c{i}": "x" for i in range(21)}, "at most 20 conditions"),
    ({"aud": "x"}, "checked by the policy itself"),
    ({"exp": "1"}, "checked by the policy itself"),
    ({"bad name": "x"}, "is not a claim name"),
    ({"repository": ""}, "1 to 500 characters"),
    ({"repository": "x" * 501}, "1 to 500 characters"),
    ({"repository": "*"}, "matches every value"),
    ({"repository": "**"}, "matches every value"),
    ({"repository": "a\nb"}, "control character"),
]


@pytest.mark.parametrize(("conditions", "message"), INVALID)
def test_conditions_that_cannot_be_used_are_refused(
    conditions: dict[str, Any], message: str
) -> None:
    with pytest.raises(ClaimConditionInvalid, match=message):
        validate_conditions(conditions)


def test_claim_names_of_the_ci_systems_are_accepted() -> None:
    names = ["repositoryUuid", "branchName", "workflow_ref", "project_path", "ref_protected"]
    assert set(validate_conditions(dict.fromkeys(names, "x"))) == set(names)


def test_a_condition_is_written_name_equals_value() -> None:
    assert parse_condition("ref=refs/heads/*") == ("ref", "refs/heads/*")
    assert parse_condition("sub=a=b") == ("sub", "a=b")
    with pytest.raises(ClaimConditionInvalid, match="NAME=VALUE"):
        parse_condition("ref")
