"""Text that can be sent: JSON's `\\u` escapes can spell a lone surrogate (U+D800 to
U+DFFF), which Python keeps in a `str` but no UTF-8 text can hold. Whatever echoes a
value that came from a client passes it through `encodable` first."""

from __future__ import annotations

import math
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")

REPLACEMENT = "\ufffd"


def is_encodable(text: str) -> bool:
    """Whether `text` can be written as UTF-8 (it holds no lone surrogate)."""
    return _SURROGATE.search(text) is None


def encodable(value: Any) -> Any:
    """`value` made safe to render as JSON in UTF-8: every string with each surrogate
    replaced by U+FFFD, through dicts, lists and tuples; a number JSON cannot write
    (NaN, infinity) and any other object as its text."""
    if isinstance(value, str):
        return value if is_encodable(value) else _SURROGATE.sub(REPLACEMENT, value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {encodable(str(key)): encodable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [encodable(item) for item in value]
    return encodable(str(value))
