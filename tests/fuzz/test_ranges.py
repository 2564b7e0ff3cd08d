"""`Range` on blob GET and HEAD, and `Content-Range` / `Content-Length` on upload PATCH
(and on the PUT that finishes an upload).

Range: a 206 carries exactly the bytes its `Content-Range` names, inside the blob, with a
matching `Content-Length`; a 200 the whole blob; a 416 says `bytes */SIZE`.

Uploads are checked against a model of the session: a PATCH taken (202) grows the session
by exactly its body, and `Range` says so; a refused one (4xx) leaves it as it was, for a
following chunk or a `GET` of the session; the finishing PUT publishes exactly the bytes
taken, under their digest, or is refused and publishes nothing.
"""

from __future__ import annotations

import functools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.harness import WRITABLE, Fuzz
from tests.fuzz.strategies import HEADER_BYTES, sha256

FUZZ = settings.get_profile("cargohold-active")
NAME = WRITABLE[0]
SIZES = [0, 1, 2, 1000, 70_000]  # 70 kB spans more than one chunk of a streamed read


async def _setup(fuzz: Fuzz) -> dict[str, bytes]:
    blobs = {}
    for size in SIZES:
        data = bytes((i * 7 + size) % 256 for i in range(size))
        response = await fuzz.send(
            "POST",
            f"/v2/{NAME}/blobs/uploads/",
            query=f"digest={sha256(data)}",
            headers=fuzz.credentials["other"],
            body=data,
        )
        assert response.status_code == 201, response.text
        blobs[sha256(data)] = data
    return blobs


def _numbers(size: int) -> st.SearchStrategy[str]:
    near = [0, 1, size - 1, size, size + 1, 2**31, 2**63 - 1, 2**63, 2**64]
    return st.one_of(
        st.sampled_from([str(n) for n in near if n >= 0]),
        st.integers(0, max(size * 2, 2)).map(str),
        st.sampled_from(["", "-1", "9" * 19, "9" * 20, "9" * 5000, "0" * 30 + "1", "1.5", "²"]),
    )


def _span(first: str, last: str) -> str:
    return f"{first}-{last}"


def _header(unit: str, spec: str, pad: str) -> bytes:
    return f"{pad}{unit}={spec}{pad}".encode()


def _suffix(n: str) -> str:
    return f"-{n}"


def _open_ended(n: str) -> str:
    return f"{n}-"


@functools.cache
def ranges(size: int) -> st.SearchStrategy[bytes]:
    number = _numbers(size)
    single = st.builds(_span, number, number)
    spec = st.one_of(
        single,
        number.map(_suffix),
        number.map(_open_ended),
        st.lists(single, min_size=2, max_size=4).map(",".join),
        st.just("-"),
    )
    inside = st.integers(0, max(size - 1, 0)).map(str)
    well_formed = st.one_of(
        st.builds(_span, inside, inside), inside.map(_suffix), inside.map(_open_ended)
    )
    units = st.sampled_from(["bytes", "bytes", "bytes", "Bytes", "items", "bytes ", ""])
    pads = st.sampled_from(["", "", " ", "\t"])
    return st.one_of(
        st.builds(_header, st.just("bytes"), well_formed, st.just("")),
        st.builds(_header, units, spec, pads),
        HEADER_BYTES,
    )


@FUZZ
@given(data=st.data())
def test_range_get(open_surface: Any, data: st.DataObject) -> None:
    fuzz: Fuzz = open_surface("range-get")
    if "blobs" not in fuzz.extra:
        fuzz.extra["blobs"] = fuzz.run(_setup(fuzz))
    blobs: dict[str, bytes] = fuzz.extra["blobs"]
    digest = data.draw(st.sampled_from(sorted(blobs)), label="blob")
    header = data.draw(ranges(len(blobs[digest])), label="range")
    repeat = data.draw(st.booleans(), label="two Range headers")
    method = data.draw(st.sampled_from(["GET", "HEAD"]), label="method")
    fuzz.run(_get(fuzz, method, digest, blobs[digest], header, repeat))


async def _get(
    fuzz: Fuzz, method: str, digest: str, blob: bytes, header: bytes, repeat: bool
) -> None:
    headers = [(b"authorization", fuzz.credentials["other"]["authorization"].encode())]
    headers += [(b"range", header)] * (2 if repeat else 1)
    response = await fuzz.send(method, f"/v2/{NAME}/blobs/{digest}", headers=headers)
    size = len(blob)
    status = response.status_code
    assert status in (200, 206, 416), (status, response.text)
    got = response.headers
    if status == 416:
        assert got["content-range"] == f"bytes */{size}", got
    elif status == 206:
        unit, _, spec = got["content-range"].partition(" ")
        span, _, total = spec.partition("/")
        first, last = (int(n) for n in span.split("-"))
        assert unit == "bytes" and total == str(size), got
        assert 0 <= first <= last < size, got
        assert got["content-length"] == str(last - first + 1), got
        if method == "GET":
            assert response.content == blob[first : last + 1], (header, got)
    else:
        assert got["content-length"] == str(size), got
        if method == "GET":
            assert response.content == blob
    if method == "HEAD" and status != 416:  # an error's JSON body on HEAD: see known.py
        assert response.content == b""
    fuzz.stats.cases += 1


# ---------------------------------------------------------------------- uploads


_RANGE_NUMBERS = st.one_of(
    st.integers(0, 3000),
    st.sampled_from([2**63 - 1, 2**63, 10**19, 10**30]),
)


def _plain(first: int, last: int) -> bytes:
    return f"{first}-{last}".encode()


def _with_total(first: int, last: int) -> bytes:
    return f"bytes {first}-{last}/{last + 1}".encode()


_ODD_CONTENT_RANGES = st.one_of(
    st.builds(_plain, _RANGE_NUMBERS, _RANGE_NUMBERS),
    st.builds(_with_total, _RANGE_NUMBERS, _RANGE_NUMBERS),
    HEADER_BYTES,
)


def _content_range(start: int, end: int) -> st.SearchStrategy[bytes]:
    """The right range in each spelling the server takes, or a wrong one."""
    right = [f"{start}-{end}", f"bytes {start}-{end}/*", f"bytes={start}-{end}"]
    return st.one_of(st.sampled_from([r.encode() for r in right]), _ODD_CONTENT_RANGES)


@FUZZ
@given(data=st.data())
def test_upload_patch(open_surface: Any, data: st.DataObject) -> None:
    fuzz: Fuzz = open_surface("upload-patch")
    steps = []
    size = 0
    for _ in range(data.draw(st.integers(1, 3), label="chunks")):
        body = data.draw(st.binary(max_size=300), label="chunk")
        content_range = data.draw(
            st.one_of(st.none(), _content_range(size, size + len(body) - 1)), label="range"
        )
        length = data.draw(
            st.one_of(st.just(str(len(body)).encode()), st.none(), HEADER_BYTES), label="length"
        )
        steps.append((body, content_range, length))
        size += len(body)
    finish = data.draw(st.sampled_from(["put", "put-chunk", "wrong-digest", "cancel"]))
    last = data.draw(st.binary(max_size=50), label="last chunk") if finish == "put-chunk" else b""
    fuzz.run(_upload(fuzz, steps, finish, last))


async def _upload(
    fuzz: Fuzz,
    steps: list[tuple[bytes, bytes | None, bytes | None]],
    finish: str,
    last: bytes,
) -> None:
    auth = fuzz.credentials["other"]
    response = await fuzz.send("POST", f"/v2/{NAME}/blobs/uploads/", headers=auth)
    assert response.status_code == 202, response.text
    location = response.headers["location"]
    upload_id = location.rsplit("/", 1)[1]
    taken = b""
    for body, content_range, length in steps:
        headers: list[tuple[bytes, bytes]] = [(b"authorization", auth["authorization"].encode())]
        if content_range is not None:
            headers.append((b"content-range", content_range))
        if length is not None:
            headers.append((b"content-length", length))
        before = await fuzz.state(blobs=False)  # a PATCH publishes nothing: see harness
        response = await fuzz.send("PATCH", location, headers=headers, body=body)
        after = await fuzz.state(blobs=False)
        fuzz.refused_left_nothing(before, after, response)
        if response.status_code == 202:
            taken += body
        else:
            assert 400 <= response.status_code < 500, response.status_code
        status = await fuzz.send("GET", location, headers=auth)
        assert status.status_code == 204, status.text
        expected = f"0-{max(len(taken) - 1, 0)}"
        assert status.headers["range"] == expected, (status.headers["range"], expected)
        if response.status_code in (202, 416):
            assert response.headers["range"] == expected, (response.headers, expected)
    digest = sha256(taken + last)
    if finish == "cancel":
        await fuzz.cancel(NAME, upload_id)
    else:
        query = f"digest={sha256(b'other bytes') if finish == 'wrong-digest' else digest}"
        headers = [(b"authorization", auth["authorization"].encode())]
        if last:
            headers.append((b"content-length", str(len(last)).encode()))
        before = await fuzz.state()
        response = await fuzz.send("PUT", location, query=query, headers=headers, body=last)
        after = await fuzz.state()
        fuzz.refused_left_nothing(before, after, response)
        if finish == "wrong-digest":
            assert response.status_code == 400, response.text
        else:
            assert response.status_code == 201, response.text
            pulled = await fuzz.send("GET", f"/v2/{NAME}/blobs/{digest}", headers=auth)
            assert pulled.content == taken + last
            assert (await fuzz.send("GET", location, headers=auth)).status_code == 404
    await fuzz.check(opened=[upload_id])
