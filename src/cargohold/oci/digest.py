"""Content digests: `algorithm:encoded`, sha256 and sha512 only."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from cargohold.oci.errors import DigestInvalid

_ENCODED_LENGTH = {"sha256": 64, "sha512": 128}
_HEX = re.compile(r"[a-f0-9]+")
_GRAMMAR = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    encoded: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse and validate a digest, raising DigestInvalid with a reason a person can act on."""
        if len(text) > 200 or not _GRAMMAR.fullmatch(text):
            raise DigestInvalid(
                f"{text[:80]!r} is not a digest; expected algorithm:hex,"
                " e.g. sha256:<64 hex digits>"
            )
        algorithm, encoded = text.split(":", 1)
        if algorithm not in _ENCODED_LENGTH:
            raise DigestInvalid(
                f"digest algorithm {algorithm!r} is not supported; use sha256 or sha512"
            )
        expected = _ENCODED_LENGTH[algorithm]
        if len(encoded) != expected or not _HEX.fullmatch(encoded):
            raise DigestInvalid(
                f"a {algorithm} digest has {expected} lowercase hex digits; got {encoded[:80]!r}"
            )
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def hasher(self) -> hashlib._Hash:
        return hashlib.new(self.algorithm)


def is_digest(reference: str) -> bool:
    """True when a manifest reference is shaped like a digest rather than a tag."""
    return ":" in reference
