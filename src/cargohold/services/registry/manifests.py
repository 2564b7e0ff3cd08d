"""Manifests: stored as the exact bytes pushed, addressed by digest, named by tags."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cargohold.metadata.db import Queries, in_list
from cargohold.oci.digest import Digest, is_digest
from cargohold.oci.errors import (
    Denied,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    SizeInvalid,
    TagInvalid,
)
from cargohold.oci.manifest import Descriptor, Manifest, parse_manifest
from cargohold.oci.names import validate_tag
from cargohold.oci.text import encodable
from cargohold.services.context import Context
from cargohold.services.events import outbox
from cargohold.services.registry import protection
from cargohold.services.registry.packages import ensure_package, find_package


@dataclass(frozen=True, slots=True)
class StoredManifest:
    digest: str
    media_type: str
    payload: bytes
    is_child: bool = False  # a platform image of an index: its pull counts as the index's


@dataclass(frozen=True, slots=True)
class PutResult:
    digest: Digest
    subject: Digest | None


_BY_TAG = """
SELECT m.digest, m.media_type, m.payload, m.is_child FROM packages p
JOIN tags t ON t.package_id = p.id
JOIN manifests m ON m.id = t.manifest_id
WHERE p.name = :name AND t.name = :ref
"""


_BY_DIGEST = """
SELECT m.digest, m.media_type, m.payload, m.is_child FROM packages p
JOIN manifests m ON m.package_id = p.id
WHERE p.name = :name AND m.digest = :ref
"""


def parse_reference(reference: str) -> Digest | str:
    """A manifest reference is a digest or a tag; anything else is TAG_INVALID (a malformed
    digest DIGEST_INVALID). Nothing is stored under an invalid tag, so the /v2 routes answer
    a read or a delete of one MANIFEST_UNKNOWN before they get here."""
    if is_digest(reference):
        return Digest.parse(reference)
    try:
        return validate_tag(reference)
    except ManifestInvalid as exc:
        raise TagInvalid(exc.message, detail=exc.detail) from None


async def get_manifest(ctx: Context, *, name: str, reference: str) -> StoredManifest:
    """The manifest a tag or digest names in a package. Kept in the process's read cache
    (`ctx.reads`) until the next commit to the database, which is when a tag may move or
    a manifest go."""
    key = ("manifest", name, reference)
    cached: StoredManifest | None = ctx.reads.get(ctx.db, key)
    if cached is not None:
        return cached
    mark = ctx.reads.current(ctx.db)
    ref = parse_reference(reference)
    sql = _BY_TAG if isinstance(ref, str) else _BY_DIGEST
    row = await ctx.db.fetchone(sql, {"name": name, "ref": str(ref)})
    if row is None:
        await find_package(ctx.db, name)
        raise ManifestUnknown(
            f"manifest {reference!r} is not in repository {name!r}", detail={"reference": reference}
        )
    stored = StoredManifest(
        row["digest"], row["media_type"], bytes(row["payload"]), bool(row["is_child"])
    )
    ctx.reads.put(mark, key, stored, len(stored.payload) + 200)
    return stored


def count_pull(ctx: Context, name: str, reference: str, stored: StoredManifest) -> bool:
    """A manifest GET is a pull: counted in memory (`events.downloads`, written every few
    seconds), under its tag, or by digest. A platform image of an index is not counted: the
    pull of the index was. True when the pull is to be recorded in the audit log too
    (`audit_pulls`: then call `audit_pull`). On the hot path: no await, no write."""
    if stored.is_child:
        return False
    ctx.downloads.count(name, reference)
    return ctx.settings.audit_pulls


async def audit_pull(ctx: Context, *, name: str, reference: str, stored: StoredManifest) -> None:
    """`manifest.pulled`, in a transaction of its own (with `audit_pulls` only)."""
    tag = None if is_digest(reference) else reference
    async with ctx.db.transaction() as tx:
        await outbox.record(
            tx,
            "manifest.pulled",
            package=name,
            tag=tag,
            digest=stored.digest,
            target=f"{name}:{tag}" if tag else f"{name}@{stored.digest}",
            data={"media_type": stored.media_type, "size": len(stored.payload)},
            at=ctx.now(),
        )


async def _missing(
    tx: Queries, table: str, package_id: int, descriptors: Sequence[Descriptor]
) -> tuple[list[Descriptor], dict[str, int]]:
    if not descriptors:
        return [], {}
    digests = sorted({str(d.digest) for d in descriptors})
    if table == "blobs":
        where, params = in_list("pb.digest", digests, "d")
        sql = (
            "SELECT pb.digest, b.size FROM package_blobs pb JOIN blobs b ON b.digest = pb.digest"
            f" WHERE pb.package_id = :p AND {where}"
        )
    else:
        where, params = in_list("digest", digests, "d")
        sql = f"SELECT digest, size FROM manifests WHERE package_id = :p AND {where}"
    params["p"] = package_id
    found = {row["digest"]: int(row["size"]) for row in await tx.fetchall(sql, params)}
    return [d for d in descriptors if str(d.digest) not in found], found


async def _check_references(tx: Queries, package_id: int, manifest: Manifest) -> None:
    blobs = list(manifest.pushed_blobs)
    for table, descriptors, kind in (
        ("blobs", blobs, "blob"),
        ("manifests", list(manifest.children), "manifest"),
    ):
        missing, sizes = await _missing(tx, table, package_id, descriptors)
        if missing:
            raise ManifestBlobUnknown(
                f"{kind} {missing[0].digest} is not in this repository; push it before the"
                " manifest that references it",
                detail={"digest": str(missing[0].digest)},
            )
        for descriptor in descriptors:
            if sizes[str(descriptor.digest)] != descriptor.size:
                raise ManifestInvalid(
                    f"descriptor of {kind} {descriptor.digest} says size {descriptor.size},"
                    f" but it has {sizes[str(descriptor.digest)]} bytes"
                )


async def put_manifest(
    ctx: Context,
    *,
    name: str,
    reference: str,
    payload: bytes,
    content_type: str | None,
    pushed_by: str | None = None,
    may_override: protection.MayOverride | None = None,
) -> PutResult:
    """Store a manifest, and point a tag at it. Moving a protected tag to another
    manifest needs `may_override()` to say the caller is a package admin."""
    if len(payload) > ctx.settings.max_manifest_size:
        raise manifest_too_large(ctx)
    ref = parse_reference(reference)
    manifest = parse_manifest(payload, content_type)
    algorithm = ref.algorithm if isinstance(ref, Digest) else "sha256"
    digest = Digest(algorithm, hashlib.new(algorithm, payload).hexdigest())
    if isinstance(ref, Digest) and ref != digest:
        raise DigestInvalid(
            f"the manifest's digest is {digest}, not {ref} as named in the URL",
            detail={"expected": str(ref), "actual": str(digest)},
        )
    now = ctx.now()
    async with ctx.db.transaction() as tx:
        package_id = await ensure_package(tx, name, now)
        # Shared with other pushes, exclusive of garbage collection and retention: what
        # the references check finds stays until this manifest names it.
        await tx.fetchone(f"SELECT id FROM packages WHERE id = :p{tx.for_share}", {"p": package_id})
        await _check_references(tx, package_id, manifest)
        manifest_id = await _insert(tx, package_id, digest, manifest, payload, now)
        before = None
        if isinstance(ref, str):
            await protection.guard_tag(
                tx,
                package_id=package_id,
                name=name,
                tag=ref,
                may_override=may_override,
                moving_to=manifest_id,
            )
            before = await tag_digest(tx, package_id=package_id, tag=ref)
            await tx.execute(
                "INSERT INTO tags (package_id, name, manifest_id, updated_at, pushed_by)"
                " VALUES (:p, :tag, :m, :now, :by) ON CONFLICT (package_id, name)"
                " DO UPDATE SET manifest_id = excluded.manifest_id,"
                " updated_at = excluded.updated_at, pushed_by = excluded.pushed_by",
                {"p": package_id, "tag": ref, "m": manifest_id, "now": now, "by": pushed_by},
            )
        await _record_push(tx, name, ref, digest, manifest, len(payload), before, now)
    return PutResult(digest, manifest.subject.digest if manifest.subject else None)


async def tag_digest(tx: Queries, *, package_id: int, tag: str) -> str | None:
    """The digest a tag names now; None when there is no such tag."""
    row = await tx.fetchone(
        "SELECT m.digest FROM tags t JOIN manifests m ON m.id = t.manifest_id"
        " WHERE t.package_id = :p AND t.name = :t",
        {"p": package_id, "t": tag},
    )
    return None if row is None else str(row["digest"])


async def _record_push(
    tx: Queries,
    name: str,
    ref: Digest | str,
    digest: Digest,
    manifest: Manifest,
    size: int,
    before: str | None,
    now: float,
) -> None:
    """`manifest.pushed`, and `tag.moved` when the tag named another manifest before."""
    tag = ref if isinstance(ref, str) else None
    data: dict[str, Any] = {"media_type": manifest.media_type, "size": size}
    if manifest.subject:  # a referrer: a signature, an SBOM, ...
        data["subject"] = str(manifest.subject.digest)
        data["artifact_type"] = manifest.referrer_artifact_type
    target = f"{name}:{tag}" if tag else f"{name}@{digest}"
    await outbox.record(
        tx,
        "manifest.pushed",
        package=name,
        tag=tag,
        digest=str(digest),
        target=target,
        data=data,
        at=now,
    )
    if tag is not None and before is not None and before != str(digest):
        await outbox.record(
            tx,
            "tag.moved",
            package=name,
            tag=tag,
            digest=str(digest),
            target=target,
            data={"from": before, "to": str(digest)},
            at=now,
        )


def manifest_too_large(ctx: Context) -> SizeInvalid:
    return SizeInvalid(
        f"manifest exceeds this registry's limit of {ctx.settings.max_manifest_size} bytes",
        status=413,
        detail={"limit": ctx.settings.max_manifest_size},
    )


async def _insert(
    tx: Queries, package_id: int, digest: Digest, manifest: Manifest, payload: bytes, now: float
) -> int:
    await tx.execute(
        "INSERT INTO manifests (package_id, digest, media_type, payload, size, artifact_type,"
        " subject_digest, annotations, created_at) VALUES (:p, :d, :mt, :payload, :size, :at,"
        " :subject, :annotations, :now) ON CONFLICT DO NOTHING",
        {
            "p": package_id,
            "d": str(digest),
            "mt": manifest.media_type,
            "payload": payload,
            "size": len(payload),
            "at": manifest.referrer_artifact_type,
            "subject": str(manifest.subject.digest) if manifest.subject else None,
            "annotations": json.dumps(manifest.annotations) if manifest.annotations else None,
            "now": now,
        },
    )
    row = await tx.fetchone(
        "SELECT id FROM manifests WHERE package_id = :p AND digest = :d",
        {"p": package_id, "d": str(digest)},
    )
    assert row is not None
    manifest_id = int(row["id"])
    references = [(str(d.digest), "blob") for d in manifest.blobs]
    references += [(str(d.digest), "manifest") for d in manifest.children]
    if manifest.subject:
        references.append((str(manifest.subject.digest), "subject"))
    for ref_digest, kind in set(references):
        await tx.execute(
            "INSERT INTO manifest_references (manifest_id, digest, kind) VALUES (:m, :d, :k)"
            " ON CONFLICT DO NOTHING",
            {"m": manifest_id, "d": ref_digest, "k": kind},
        )
    for child in {str(d.digest) for d in manifest.children}:
        await tx.execute(
            "UPDATE manifests SET is_child = :t WHERE package_id = :p AND digest = :d"
            " AND NOT is_child",
            {"t": True, "p": package_id, "d": child},
        )
    return manifest_id


@dataclass(frozen=True, slots=True)
class HoldingIndex:
    """An index (a multi-arch image) that names a manifest as one of its platforms."""

    digest: str
    tags: list[str]


async def holding_indexes(db: Queries, *, package_id: int, digest: str) -> list[HoldingIndex]:
    """The indexes of the package that name `digest` among their manifests (up to 10), each
    with its tags (up to 20): deleting `digest` would break every pull of them."""
    rows = await db.fetchall(
        "SELECT i.id, i.digest FROM manifest_references mr JOIN manifests i"
        " ON i.id = mr.manifest_id WHERE i.package_id = :p AND mr.kind = 'manifest'"
        " AND mr.digest = :d ORDER BY i.digest LIMIT 10",
        {"p": package_id, "d": digest},
    )
    holding = []
    for row in rows:
        tags = await db.fetchall(
            "SELECT name FROM tags WHERE manifest_id = :m ORDER BY name LIMIT 20", {"m": row["id"]}
        )
        holding.append(HoldingIndex(row["digest"], [tag["name"] for tag in tags]))
    return holding


def held_by(digest: str, indexes: Sequence[HoldingIndex]) -> str:
    """Why an image named by indexes is not deleted, and what to delete instead."""
    named = "; ".join(
        f"{index.digest} (tags: {', '.join(index.tags) if index.tags else 'none'})"
        for index in indexes
    )
    return (
        f"{digest} is a platform image of the multi-arch image {named}, which could no"
        " longer be pulled without it; delete that index instead (its platform images go"
        " with it)"
    )


async def delete_manifest(
    ctx: Context,
    *,
    name: str,
    reference: str,
    may_override: protection.MayOverride | None = None,
) -> None:
    """By tag: remove just the tag (a protected one only when `may_override()`). By
    digest: the manifest and every tag naming it, unless an index names it as one of its
    platforms (DENIED, naming the index and its tags: delete the index instead)."""
    ref = parse_reference(reference)
    async with ctx.db.transaction() as tx:
        package_id = await find_package(tx, name)
        if isinstance(ref, str):
            await protection.guard_tag(
                tx, package_id=package_id, name=name, tag=ref, may_override=may_override
            )
            named = await tag_digest(tx, package_id=package_id, tag=ref)
            removed = await tx.execute(
                "DELETE FROM tags WHERE package_id = :p AND name = :ref",
                {"p": package_id, "ref": ref},
            )
            if removed:
                await record_tag_deleted(tx, name=name, tag=ref, digest=named, now=ctx.now())
        else:
            indexes = await holding_indexes(tx, package_id=package_id, digest=str(ref))
            if indexes:
                raise Denied(
                    held_by(str(ref), indexes),
                    detail={
                        "digest": str(ref),
                        "indexes": [{"digest": i.digest, "tags": i.tags} for i in indexes],
                    },
                )
            tags = await tags_of(tx, package_id=package_id, digest=str(ref))
            removed = await tx.execute(
                "DELETE FROM manifests WHERE package_id = :p AND digest = :ref",
                {"p": package_id, "ref": str(ref)},
            )
            if removed:
                await record_manifest_deleted(
                    tx, name=name, digest=str(ref), tags=tags, now=ctx.now()
                )
    if not removed:
        raise ManifestUnknown(
            f"manifest {reference!r} is not in repository {name!r}", detail={"reference": reference}
        )


async def tags_of(db: Queries, *, package_id: int, digest: str) -> list[str]:
    """The tags that name a manifest of the package (deleting it deletes them too)."""
    rows = await db.fetchall(
        "SELECT t.name FROM tags t JOIN manifests m ON m.id = t.manifest_id"
        " WHERE m.package_id = :p AND m.digest = :d ORDER BY t.name",
        {"p": package_id, "d": digest},
    )
    return [row["name"] for row in rows]


async def record_tag_deleted(
    tx: Queries, *, name: str, tag: str, digest: str | None, now: float | None = None
) -> None:
    """`tag.deleted`, in the transaction that deleted the tag (/v2, the API, the UI)."""
    await outbox.record(
        tx, "tag.deleted", package=name, tag=tag, digest=digest, target=f"{name}:{tag}", at=now
    )


async def record_manifest_deleted(
    tx: Queries, *, name: str, digest: str, tags: Sequence[str], now: float | None = None
) -> None:
    """`manifest.deleted`, with the tags that went with it, in the deleting transaction."""
    await outbox.record(
        tx,
        "manifest.deleted",
        package=name,
        digest=digest,
        target=f"{name}@{digest}",
        data={"tags": list(tags)} if tags else None,
        at=now,
    )


async def list_tags(
    ctx: Context, *, name: str, limit: int, last: str | None
) -> tuple[list[str], bool]:
    package_id = await find_package(ctx.db, name)
    rows = await ctx.db.fetchall(
        "SELECT name FROM tags WHERE package_id = :p AND name > :last ORDER BY name LIMIT :n",
        {"p": package_id, "last": last or "", "n": limit + 1},
    )
    tags = [row["name"] for row in rows]
    return tags[:limit], len(tags) > limit


async def list_referrers(
    ctx: Context,
    *,
    name: str,
    digest: Digest,
    artifact_type: str | None,
    limit: int,
    last: str | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """Descriptors of the manifests whose subject is `digest` (optionally of one artifact
    type), in digest order after `last`; the flag says whether more remain."""
    package_id = await find_package(ctx.db, name)
    sql = (
        "SELECT digest, media_type, size, artifact_type, annotations FROM manifests"
        " WHERE package_id = :p AND subject_digest = :d AND digest > :last"
    )
    params: dict[str, Any] = {"p": package_id, "d": str(digest), "last": last or "", "n": limit + 1}
    if artifact_type is not None:
        sql += " AND artifact_type = :at"
        params["at"] = artifact_type
    rows = await ctx.db.fetchall(sql + " ORDER BY digest LIMIT :n", params)
    descriptors = []
    for row in rows:
        descriptor: dict[str, Any] = {
            "mediaType": row["media_type"],
            "digest": row["digest"],
            "size": row["size"],
        }
        if row["artifact_type"]:
            descriptor["artifactType"] = row["artifact_type"]
        if row["annotations"]:  # stored before lone surrogates were refused: made sendable
            descriptor["annotations"] = encodable(json.loads(row["annotations"]))
        descriptors.append(descriptor)
    return descriptors[:limit], len(descriptors) > limit
