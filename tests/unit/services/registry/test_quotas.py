"""Sizes people write (`10GiB`, `500MB`, `none`) and the sizes messages show."""

from __future__ import annotations

import pytest

from cargohold.services.errors import Invalid
from cargohold.services.registry.quotas import format_bytes, parse_size, percent, workspace_of


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("4096", 4096),
        ("0", 0),
        ("512B", 512),
        ("1kB", 1000),
        ("1KiB", 1024),
        ("500MB", 500 * 1000**2),
        ("500 MiB", 500 * 1024**2),
        ("10GiB", 10 * 1024**3),
        ("10gib", 10 * 1024**3),
        ("10Gi", 10 * 1024**3),
        ("10G", 10 * 1000**3),
        ("1.5TiB", 3 * 1024**4 // 2),
        ("2TB", 2 * 1000**4),
        ("1PiB", 1024**5),
        ("  7 GB ", 7 * 1000**3),
    ],
)
def test_sizes_take_decimal_and_binary_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["none", "None", " NONE "])
def test_none_means_no_quota(text: str) -> None:
    assert parse_size(text) is None


@pytest.mark.parametrize("text", ["", "GiB", "-1GiB", "10 XB", "1e9", "10 GiBs", "ten", "1,5GB"])
def test_anything_else_is_refused_with_examples(text: str) -> None:
    with pytest.raises(Invalid, match="10GiB"):
        parse_size(text)


def test_sizes_beyond_a_signed_64_bit_count_are_refused() -> None:
    with pytest.raises(Invalid, match="larger than any store"):
        parse_size("9000PiB")


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (300 * 1024**2, "300.0 MiB"),
        (int(10.2 * 1024**3), "10.2 GiB"),
        (10 * 1024**3, "10.0 GiB"),
        (5 * 1024**4, "5.0 TiB"),
    ],
)
def test_messages_show_sizes_in_binary_units(size: int, text: str) -> None:
    assert format_bytes(size) == text


def test_percent_used_of_a_quota() -> None:
    assert percent(4645, 10_000) == 46.5
    assert percent(0, 10_000) == 0.0
    assert percent(20, 10) == 200.0
    assert percent(0, 0) == 100.0  # a zero quota is full


def test_a_package_belongs_to_the_workspace_its_name_starts_with() -> None:
    assert workspace_of("acme/web/api") == "acme"
    assert workspace_of("acme") is None
