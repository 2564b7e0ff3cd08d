"""What a push brings along: the manifest's closure in the order a registry accepts it.
For an image: its config and layers, then the image. For an index (a multi-arch image):
each platform image with its blobs, then the index. Then the referrers of everything in it
(a signature, an SBOM: manifests whose `subject` is one of them), each after its subject,
and their referrers in turn."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.metadata.db import Queries, in_list
from cargohold.oci.manifest import Descriptor, parse_manifest

MAX_MANIFESTS = 1000  # a closure beyond this is cut (a runaway chain of referrers)
MAX_DEPTH = 4  # referrers of referrers of ...


@dataclass(frozen=True, slots=True)
class Blob:
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class Item:
    """One manifest to copy, with the blobs it needs there first."""

    digest: str
    media_type: str
    payload: bytes
    blobs: tuple[Blob, ...]
    subject: str | None
    artifact_type: str | None
    annotations: dict[str, str]


class Gone(Exception):
    """The manifest is no longer in the package (deleted since it was pushed)."""


async def _load(db: Queries, package_id: int, digest: str) -> Item | None:
    row = await db.fetchone(
        "SELECT digest, media_type, payload FROM manifests WHERE package_id = :p AND digest = :d",
        {"p": package_id, "d": digest},
    )
    if row is None:
        return None
    payload = bytes(row["payload"])
    manifest = parse_manifest(payload, row["media_type"])
    return Item(
        digest=row["digest"],
        media_type=row["media_type"],
        payload=payload,
        blobs=tuple(_blob(d) for d in manifest.pushed_blobs),
        subject=str(manifest.subject.digest) if manifest.subject else None,
        artifact_type=manifest.referrer_artifact_type,
        annotations=dict(manifest.annotations),
    )


def _blob(descriptor: Descriptor) -> Blob:
    return Blob(str(descriptor.digest), descriptor.size)


def children_of(item: Item) -> list[str]:
    manifest = parse_manifest(item.payload, item.media_type)
    return [str(child.digest) for child in manifest.children]


async def closure(db: Queries, *, package: str, digest: str) -> list[Item]:
    """The manifests to copy for a push of `digest` to `package`, in order (Gone when it is
    no longer there)."""
    row = await db.fetchone("SELECT id FROM packages WHERE name = :n", {"n": package})
    if row is None:
        raise Gone(f"package {package} no longer exists")
    package_id = int(row["id"])
    ordered: list[Item] = []
    seen: set[str] = set()

    async def add(found: str, required: bool) -> Item | None:
        if found in seen or len(ordered) >= MAX_MANIFESTS:
            return None
        item = await _load(db, package_id, found)
        if item is None:
            if required:
                raise Gone(f"manifest {found} is no longer in {package}")
            return None
        seen.add(found)
        for child in children_of(item):  # an index's platform images first
            await add(child, required)
        ordered.append(item)
        return item

    await add(digest, True)
    subjects = [item.digest for item in ordered]
    for _ in range(MAX_DEPTH):
        if not subjects:
            break
        where, params = in_list("subject_digest", subjects, "s")
        params["p"] = package_id
        rows = await db.fetchall(
            f"SELECT digest FROM manifests WHERE package_id = :p AND {where} ORDER BY id", params
        )
        before = len(ordered)
        for referrer in rows:
            await add(str(referrer["digest"]), False)
        subjects = [item.digest for item in ordered[before:]]
    return ordered
