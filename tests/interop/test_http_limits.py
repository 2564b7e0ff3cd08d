"""What the HTTP server itself refuses, over a raw socket to a live `cargohold serve`.

Granian answers an oversized header section (431) and a malformed `Content-Length` (400)
before the request reaches the registry, so those answers are Granian's own: no body, no
`Docker-Distribution-API-Version`, and the connection closed (docs/api.md, "Refused by
the HTTP server"). The same requests within the limits, or with a well-formed length, reach
the registry and get its answer. The in-process tests (tests/functional) cannot see this:
they hand the app a request no server parsed.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from tests.functional.auth.world import PRIVATE

from ._support import TokenServer

pytestmark = pytest.mark.interop

API_VERSION = "docker-distribution-api-version"
Header = tuple[str, str | bytes]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def describe(self) -> str:
        return f"{self.status} {self.headers} {self.body[:300]!r}"


def exchange(
    host: str, method: str, path: str, headers: Sequence[Header], body: bytes = b""
) -> Answer:
    """One HTTP/1.1 request written by hand (`Connection: close`), and the whole answer."""
    lines = [f"{method} {path} HTTP/1.1".encode(), f"Host: {host}".encode(), b"Connection: close"]
    for name, value in headers:
        lines.append(name.encode() + b": " + (value.encode() if isinstance(value, str) else value))
    request = b"\r\n".join(lines) + b"\r\n\r\n" + body
    address, port = host.rsplit(":", 1)
    received = bytearray()
    with socket.create_connection((address, int(port)), timeout=30) as sock:
        with contextlib.suppress(OSError):  # refused and closed before it read it all
            sock.sendall(request)
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    head, _, rest = bytes(received).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    assert status_line.startswith("HTTP/1.1 "), f"no HTTP answer: {bytes(received[:300])!r}"
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split()[1]), parsed, rest)


def basic(token_server: TokenServer, who: str) -> Header:
    return ("Authorization", token_server.world.credential(who, who).basic["Authorization"])


def assert_from_the_http_server(answer: Answer, status: int) -> None:
    """Granian's own refusal: the registry never saw the request."""
    assert answer.status == status, answer.describe()
    assert API_VERSION not in answer.headers, answer.describe()
    assert answer.body == b"", answer.describe()
    assert answer.headers.get("content-length") == "0", answer.describe()
    assert answer.headers.get("connection") == "close", answer.describe()


def assert_from_the_registry(answer: Answer, status: int, code: str | None = None) -> None:
    assert answer.status == status, answer.describe()
    assert answer.headers.get(API_VERSION) == "registry/2.0", answer.describe()
    if code is not None:
        assert json.loads(answer.body)["errors"][0]["code"] == code, answer.describe()


# Header sections. Granian reads at most about 408 KiB of headers (its HTTP/1 buffer; a
# little more may get through, depending on how the bytes arrive) and 100 header fields.

WITHIN = {
    "a-256-KiB-header": [("X-Padding", "a" * (256 << 10))],
    "93-fields": [(f"X-Field-{n}", "x") for n in range(90)],  # + Host, Connection, Authorization
}
OVER = {
    "a-1-MiB-header": [("X-Padding", "a" * (1 << 20))],
    "103-fields": [(f"X-Field-{n}", "x") for n in range(100)],
}


@pytest.mark.parametrize("extra", WITHIN.values(), ids=WITHIN.keys())
def test_a_header_section_within_the_limits_reaches_the_registry(
    token_server: TokenServer, extra: list[Header]
) -> None:
    headers = [basic(token_server, "read"), *extra]
    answer = exchange(token_server.registry.host, "GET", "/v2/", headers)
    assert_from_the_registry(answer, 200)


@pytest.mark.parametrize("extra", OVER.values(), ids=OVER.keys())
def test_an_oversized_header_section_is_431_from_the_http_server(
    token_server: TokenServer, extra: list[Header]
) -> None:
    headers = [basic(token_server, "read"), *extra]
    answer = exchange(token_server.registry.host, "GET", "/v2/", headers)
    assert_from_the_http_server(answer, 431)


# Content-Length: one decimal number that fits in 64 bits, or Granian refuses the request.

CHUNK = b"0123456789"
MALFORMED = {
    "letters": [b"abc"],
    "negative": [b"-1"],
    "exponent": [b"1e3"],
    "fraction": [b"1.5"],
    "hexadecimal": [b"0x0a"],
    "superscript-two": ["²".encode()],
    "a-list": [b"10, 20"],
    "two-values": [b"10", b"20"],
    "over-64-bits": [b"9" * 20],
    "5000-digits": [b"9" * 5000],
}


def _upload_path() -> str:
    return f"/v2/{PRIVATE}/blobs/uploads/{'0' * 48}"  # no such session


@pytest.mark.parametrize("lengths", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_content_length_is_400_from_the_http_server(
    token_server: TokenServer, lengths: list[bytes]
) -> None:
    headers: list[Header] = [basic(token_server, "write")]
    headers += [("Content-Length", length) for length in lengths]
    answer = exchange(token_server.registry.host, "PATCH", _upload_path(), headers, CHUNK)
    assert_from_the_http_server(answer, 400)


def test_a_well_formed_content_length_reaches_the_registry(token_server: TokenServer) -> None:
    host, writer = token_server.registry.host, basic(token_server, "write")
    length = ("Content-Length", str(len(CHUNK)))
    answer = exchange(host, "PATCH", _upload_path(), [writer, length], CHUNK)
    assert_from_the_registry(answer, 404, "BLOB_UPLOAD_UNKNOWN")

    # the largest length Granian takes is the registry's to refuse: 413 before the body
    huge = [writer, ("Content-Type", "application/vnd.oci.image.manifest.v1+json")]
    huge.append(("Content-Length", "9" * 19))
    answer = exchange(host, "PUT", f"/v2/{PRIVATE}/manifests/huge", huge, b"{}")
    assert_from_the_registry(answer, 413, "SIZE_INVALID")
