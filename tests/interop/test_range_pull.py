"""A pull that resumes with HTTP Range, as docker and containerd do after a dropped connection."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest

from ._support import describe_response, push_blob, sha256_digest

pytestmark = pytest.mark.interop

NAME = "acme/range"
SIZE = 5 * 1024 * 1024 + 12345  # ~5 MB, deliberately not a multiple of the 1 MiB split
SPLIT = 1024 * 1024


@pytest.fixture(scope="module")
def blob(http: httpx.Client) -> tuple[bytes, str]:
    data = os.urandom(SIZE)
    digest = push_blob(http, NAME, data)
    assert digest == sha256_digest(data)
    return data, digest


def test_blob_head_reports_length_and_digest(http: httpx.Client, blob: tuple[bytes, str]) -> None:
    data, digest = blob
    resp = http.head(f"/v2/{NAME}/blobs/{digest}")
    assert resp.status_code == 200, describe_response(resp)
    assert resp.headers.get("Content-Length") == str(len(data)), describe_response(resp)
    assert resp.headers.get("Docker-Content-Digest") == digest, describe_response(resp)


def test_resumed_pull_with_range(http: httpx.Client, blob: tuple[bytes, str]) -> None:
    data, digest = blob
    url = f"/v2/{NAME}/blobs/{digest}"

    first = http.get(url, headers={"Range": f"bytes=0-{SPLIT - 1}"})
    assert first.status_code == 206, describe_response(first)
    assert first.headers.get("Content-Range") == f"bytes 0-{SPLIT - 1}/{SIZE}", describe_response(
        first
    )
    assert len(first.content) == SPLIT, describe_response(first)
    assert first.headers.get("Content-Length") == str(SPLIT), describe_response(first)

    rest = http.get(url, headers={"Range": f"bytes={SPLIT}-"})
    assert rest.status_code == 206, describe_response(rest)
    assert rest.headers.get("Content-Range") == f"bytes {SPLIT}-{SIZE - 1}/{SIZE}", (
        describe_response(rest)
    )
    assert len(rest.content) == SIZE - SPLIT, describe_response(rest)

    joined = first.content + rest.content
    assert joined == data, "the two ranges do not add up to the pushed blob"
    assert "sha256:" + hashlib.sha256(joined).hexdigest() == digest


def test_full_get_without_range(http: httpx.Client, blob: tuple[bytes, str]) -> None:
    data, digest = blob
    resp = http.get(f"/v2/{NAME}/blobs/{digest}")
    assert resp.status_code == 200, describe_response(resp)
    assert resp.content == data
    assert resp.headers.get("Docker-Content-Digest") == digest, describe_response(resp)


def test_unsatisfiable_range_is_416(http: httpx.Client, blob: tuple[bytes, str]) -> None:
    _, digest = blob
    headers = {"Range": f"bytes={SIZE + 10}-"}
    # Only the status matters here; the body is not read (distribution 2.8 sends a 416 whose
    # Content-Length does not match its body).
    with http.stream("GET", f"/v2/{NAME}/blobs/{digest}", headers=headers) as resp:
        assert resp.status_code == 416, f"{resp.status_code} {dict(resp.headers)}"
