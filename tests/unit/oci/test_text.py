"""`encodable`: what an error echoes can always be written as UTF-8."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cargohold.oci.text import encodable, is_encodable


@pytest.mark.parametrize(
    ("text", "expected"), [("plain", True), ("日本語 \U0001f600", True), ("a\ud800b", False)]
)
def test_text_is_encodable_unless_it_holds_a_lone_surrogate(text: str, expected: bool) -> None:
    assert is_encodable(text) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a\ud800b\udfff", "a\ufffdb\ufffd"),
        ({"k\udc00": ["\ud800", 1, None, True]}, {"k\ufffd": ["\ufffd", 1, None, True]}),
        (("x", 2.5), ["x", 2.5]),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (b"\xff", "b'\\xff'"),
        ({1: "one"}, {"1": "one"}),
    ],
)
def test_encodable_replaces_what_utf8_or_json_cannot_write(value: Any, expected: Any) -> None:
    made = encodable(value)

    assert made == expected
    json.dumps(made, ensure_ascii=False, allow_nan=False).encode()


def test_encodable_text_is_left_as_it_is() -> None:
    value = {"name": "日本語", "n": [1, 2]}

    assert encodable(value) == value
