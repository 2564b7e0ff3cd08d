"""The only place storage keys are built."""

from __future__ import annotations

from cargohold.oci.digest import Digest

BLOBS_PREFIX = "blobs/"
UPLOADS_PREFIX = "uploads/"


def blob_key(digest: Digest) -> str:
    return f"{BLOBS_PREFIX}{digest.algorithm}/{digest.encoded[:2]}/{digest.encoded}"


def upload_key(upload_id: str) -> str:
    return f"{UPLOADS_PREFIX}{upload_id}"


def blob_digest(key: str) -> str | None:
    """The digest a blob key was built from (`algorithm:encoded`); None for other keys."""
    if not key.startswith(BLOBS_PREFIX):
        return None
    parts = key[len(BLOBS_PREFIX) :].split("/")
    if len(parts) != 3 or parts[2][:2] != parts[1]:
        return None
    return f"{parts[0]}:{parts[2]}"
