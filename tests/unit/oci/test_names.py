"""Repository names and tags, as the distribution spec's grammar defines them."""

from __future__ import annotations

import pytest

from cargohold.oci.errors import ManifestInvalid, NameInvalid
from cargohold.oci.names import is_valid_tag, validate_name, validate_tag

VALID_NAMES = [
    "a",
    "0",
    "acme/web",
    "a.b",
    "a_b",
    "a__b",
    "a-b",
    "a---b",
    "a/b/c/d/e",
    "library/ubuntu",
    "a1.b2_c3__d4-e5/f6",
    "a" * 255,
]
INVALID_NAMES = [
    "",
    "A",
    "acme/Web",
    "/acme",
    "acme/",
    "acme//web",
    "-a",
    "a-",
    ".a",
    "a.",
    "_a",
    "a_",
    "a___b",
    "a..b",
    "a.-b",
    "a_-b",
    "acme web",
    "acme:5000/web",
    "acmé",
    "acme/../web",
    "acme/./web",
    "..",
    "a" * 256,
    "/".join(["abc"] * 100),
]


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_name(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_invalid_name_is_name_invalid(name: str) -> None:
    with pytest.raises(NameInvalid) as raised:
        validate_name(name)

    assert raised.value.http_status == 400
    assert len(raised.value.message) < 400


def test_name_too_long_names_the_limit() -> None:
    with pytest.raises(NameInvalid, match="255"):
        validate_name("a" * 256)


VALID_TAGS = ["latest", "v1", "V1", "_", "0", "1.0.0", "v1.2.3-rc.1_b", "a" * 128, "A-._"]
INVALID_TAGS = ["", ".a", "-a", "a" * 129, "a b", "a/b", "a:b", "a+b", "a@b", "é", "a\n"]


@pytest.mark.parametrize("tag", VALID_TAGS)
def test_valid_tag(tag: str) -> None:
    assert is_valid_tag(tag)
    assert validate_tag(tag) == tag


@pytest.mark.parametrize("tag", INVALID_TAGS)
def test_invalid_tag_is_manifest_invalid(tag: str) -> None:
    assert not is_valid_tag(tag)
    with pytest.raises(ManifestInvalid) as raised:
        validate_tag(tag)

    assert raised.value.http_status == 400
    assert "tag" in raised.value.message


def test_tag_error_is_bounded_for_a_huge_tag() -> None:
    with pytest.raises(ManifestInvalid) as raised:
        validate_tag("a" * 1_000_000)

    assert len(raised.value.message) < 400
    assert "128" in raised.value.message
