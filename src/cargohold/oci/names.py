"""Repository names, tags and references, as the distribution spec defines them."""

from __future__ import annotations

import re

from cargohold.oci.errors import ManifestInvalid, NameInvalid

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
MAX_NAME_LENGTH = 255


def validate_name(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH:
        raise NameInvalid(
            f"repository name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}"
        )
    if not _NAME.fullmatch(name):
        raise NameInvalid(
            f"invalid repository name {name[:100]!r}: use lowercase letters, digits and "
            "separators (. _ __ -), with path components joined by /",
            detail={"name": name[:256]},
        )
    return name


def is_valid_tag(tag: str) -> bool:
    return _TAG.fullmatch(tag) is not None


def validate_tag(tag: str) -> str:
    if not is_valid_tag(tag):
        raise ManifestInvalid(
            f"invalid tag {tag[:140]!r}: a tag is 1 to 128 characters of letters, digits, "
            "_ . and -, and does not start with . or -",
            detail={"tag": tag[:256]},
        )
    return tag
