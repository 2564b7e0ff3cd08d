"""Digests: `algorithm:encoded`, sha256 and sha512, lowercase hex of the right length."""

from __future__ import annotations

import hashlib

import pytest

from cargohold.oci.digest import Digest, is_digest
from cargohold.oci.errors import DigestInvalid

SHA256 = hashlib.sha256(b"x").hexdigest()
SHA512 = hashlib.sha512(b"x").hexdigest()


@pytest.mark.parametrize(
    ("text", "algorithm", "encoded"),
    [(f"sha256:{SHA256}", "sha256", SHA256), (f"sha512:{SHA512}", "sha512", SHA512)],
)
def test_valid_digest_parses_and_prints_back(text: str, algorithm: str, encoded: str) -> None:
    digest = Digest.parse(text)

    assert (digest.algorithm, digest.encoded) == (algorithm, encoded)
    assert str(digest) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "not a digest"),
        ("sha256", "not a digest"),
        ("sha256:", "not a digest"),
        (":" + SHA256, "not a digest"),
        ("sha256:xyz", "hex"),
        ("sha256:" + SHA256[:-1], "64"),
        ("sha256:" + SHA256 + "0", "64"),
        ("sha256:" + SHA256.upper(), "lowercase"),
        ("sha256:" + "g" * 64, "hex"),
        ("sha512:" + SHA256, "128"),
        ("md5:d41d8cd98f00b204e9800998ecf8427e", "not supported"),
        ("sha1:" + hashlib.sha1(b"x").hexdigest(), "not supported"),
        ("SHA256:" + SHA256, "not a digest"),
        ("sha256 :" + SHA256, "not a digest"),
        ("sha256:" + SHA256 + "\n", "not a digest"),
        ("sha256:../../etc/passwd", "not a digest"),
        ("sha256:" + "a" * 10_000, "not a digest"),
    ],
)
def test_invalid_digest_is_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(DigestInvalid) as raised:
        Digest.parse(text)

    assert raised.value.http_status == 400
    assert reason in raised.value.message
    assert len(raised.value.message) < 300


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_digest_of_bytes(algorithm: str) -> None:
    digest = Digest.of(b"hello", algorithm)

    assert str(digest) == f"{algorithm}:" + hashlib.new(algorithm, b"hello").hexdigest()
    assert Digest.parse(str(digest)) == digest


@pytest.mark.parametrize(
    ("reference", "expected"),
    [("latest", False), ("v1.0", False), (f"sha256:{SHA256}", True), ("sha256:xyz", True)],
)
def test_is_digest(reference: str, expected: bool) -> None:
    assert is_digest(reference) is expected
