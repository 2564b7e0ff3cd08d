"""`parse_range`: the byte range a blob GET's `Range` header asks for."""

from __future__ import annotations

import pytest

from cargohold.oci.errors import SizeInvalid
from cargohold.web.registry.blobs import parse_range

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, SIZE, None),
        ("", SIZE, None),
        ("bytes=0-99", SIZE, (0, 99)),
        ("bytes=0-0", SIZE, (0, 0)),
        ("bytes=999-999", SIZE, (999, 999)),
        ("bytes=100-", SIZE, (100, 999)),
        ("bytes=-100", SIZE, (900, 999)),
        ("bytes=-1", SIZE, (999, 999)),
        ("bytes=-5000", SIZE, (0, 999)),
        ("bytes=990-5000", SIZE, (990, 999)),
        (" bytes=1-2 ", SIZE, (1, 2)),
        ("bytes=0-" + "9" * 5000, SIZE, (0, 999)),
        ("bytes=-" + "9" * 5000, SIZE, (0, 999)),
        ("bytes=0-99999999999999999999", SIZE, (0, 999)),
        # Not understood, so ignored: the whole blob is sent.
        ("items=0-5", SIZE, None),
        ("bytes=0-1,5-6", SIZE, None),
        ("bytes=a-b", SIZE, None),
        ("bytes=-", SIZE, None),
        ("bytes 0-5", SIZE, None),
        ("bytes=0x1-0x2", SIZE, None),
        # An empty blob has no bytes to address: send it whole.
        ("bytes=-5", 0, None),
        ("bytes=0-", 0, None),
    ],
)
def test_parse_range(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    "header",
    [
        "bytes=1000-",
        "bytes=1000-1000",
        "bytes=5000-6000",
        "bytes=10-5",
        "bytes=-0",
        "bytes=" + "9" * 5000 + "-",
        "bytes=99999999999999999999-",
    ],
)
def test_unsatisfiable_range_is_416_with_the_size(header: str) -> None:
    with pytest.raises(SizeInvalid) as raised:
        parse_range(header, SIZE)

    assert raised.value.http_status == 416
    assert raised.value.headers["Content-Range"] == f"bytes */{SIZE}"
    assert str(SIZE) in raised.value.message
    assert len(raised.value.message) < 200


@pytest.mark.parametrize("size", [1, 2, 1000, 2**40])
@pytest.mark.parametrize("header", ["bytes=0-", "bytes=-1", "bytes=0-0", "bytes=-99999"])
def test_a_satisfiable_range_lies_inside_the_blob(header: str, size: int) -> None:
    span = parse_range(header, size)

    assert span is not None
    start, end = span
    assert 0 <= start <= end < size
