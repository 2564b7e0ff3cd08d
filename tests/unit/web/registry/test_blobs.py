"""`accel_headers`: the answer that hands a blob GET to a front nginx (X-Accel-Redirect)."""

from __future__ import annotations

from cargohold.web.registry.blobs import accel_headers
from cargohold.web.registry.common import content_headers

DIGEST = "sha256:" + "ab" * 32
KEY = f"blobs/sha256/ab/{'ab' * 32}"


def _blob_headers() -> dict[str, str]:
    headers = content_headers(DIGEST, 4096, "application/octet-stream")
    headers["Accept-Ranges"] = "bytes"
    return headers


def test_the_redirect_names_the_blob_file_under_the_prefix() -> None:
    headers = accel_headers(_blob_headers(), "/_cargohold_blobs/", KEY)

    assert headers["X-Accel-Redirect"] == f"/_cargohold_blobs/{KEY}"


def test_the_blob_headers_go_with_the_redirect() -> None:
    headers = accel_headers(_blob_headers(), "/_cargohold_blobs/", KEY)

    assert headers["Docker-Content-Digest"] == DIGEST
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["ETag"] == f'"{DIGEST}"'


def test_the_redirect_has_no_body_and_leaves_length_and_ranges_to_nginx() -> None:
    headers = accel_headers(_blob_headers(), "/_cargohold_blobs/", KEY)

    assert headers["Content-Length"] == "0"
    assert "Accept-Ranges" not in headers


def test_characters_outside_a_plain_path_are_percent_encoded() -> None:
    headers = accel_headers(_blob_headers(), "/x/", "blobs/a b/%?#ü")

    assert headers["X-Accel-Redirect"] == "/x/blobs/a%20b/%25%3F%23%C3%BC"


def test_the_headers_given_are_left_as_they_were() -> None:
    given = _blob_headers()

    accel_headers(given, "/x/", KEY)

    assert given == _blob_headers()
