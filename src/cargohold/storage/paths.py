"""The only place storage keys are built."""

from __future__ import annotations

from cargohold.oci.digest import Digest

BLOBS_PREFIX = "blobs/"
UPLOADS_PREFIX = "uploads/"


def blob_key(digest: Digest) -> str:
    return f"{BLOBS_PREFIX}{digest.algorithm}/{digest.encoded[:2]}/{digest.encoded}"


def upload_key(upload_id: str) -> str:
    return f"{UPLOADS_PREFIX}{upload_id}"
