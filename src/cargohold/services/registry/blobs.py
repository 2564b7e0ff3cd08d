"""Blobs as a package sees them: through its links, never by digest alone."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from cargohold.metadata.db import IntegrityError, Queries
from cargohold.oci.digest import Digest
from cargohold.oci.errors import BlobUnknown
from cargohold.services.context import Context
from cargohold.services.events import outbox
from cargohold.services.registry.packages import ensure_package, find_package
from cargohold.services.registry.quotas import hold_quota
from cargohold.storage.base import ObjectNotFound
from cargohold.storage.paths import blob_key

_LINKED_BLOB = """
SELECT b.size FROM packages p
JOIN package_blobs pb ON pb.package_id = p.id
JOIN blobs b ON b.digest = pb.digest
WHERE p.name = :name AND pb.digest = :digest
"""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    digest: Digest
    size: int
    key: str


def _unknown(digest: Digest, name: str) -> BlobUnknown:
    return BlobUnknown(
        f"blob {digest} is not in repository {name!r}", detail={"digest": str(digest)}
    )


async def stat_blob(ctx: Context, *, name: str, digest: Digest) -> BlobInfo:
    row = await ctx.db.fetchone(_LINKED_BLOB, {"name": name, "digest": str(digest)})
    if row is None:
        await find_package(ctx.db, name)
        raise _unknown(digest, name)
    return BlobInfo(digest, int(row["size"]), blob_key(digest))


def blob_file(ctx: Context, blob: BlobInfo) -> Path | None:
    """The blob's file when the store keeps files and the file is there."""
    path = ctx.storage.local_path(blob.key)
    if path is None or not path.is_file():
        return None
    return path


async def check_present(ctx: Context, blob: BlobInfo) -> None:
    """Refuse a linked blob whose bytes are gone, before any response byte is sent."""
    try:
        await ctx.storage.size(blob.key)
    except ObjectNotFound:
        raise BlobUnknown(f"blob {blob.digest} is missing from storage") from None


async def redirect_url(ctx: Context, blob: BlobInfo) -> str | None:
    """Where a client may fetch the blob from the store itself, when blob GETs redirect
    (`blob_redirect`, for blobs of at least `blob_redirect_min_size` bytes)."""
    settings = ctx.settings
    if not settings.blob_redirect or blob.size < settings.blob_redirect_min_size:
        return None
    return await ctx.storage.presigned_url(blob.key, settings.blob_redirect_expiry)


def read_blob(
    ctx: Context, blob: BlobInfo, offset: int = 0, length: int | None = None
) -> AsyncIterator[bytes]:
    """Stream a blob (or a range of it) from the store."""
    return ctx.storage.read(blob.key, offset, length)


async def open_blob(
    ctx: Context, blob: BlobInfo, offset: int = 0, length: int | None = None
) -> AsyncGenerator[bytes]:
    """Stream a blob (or a range of it) from the store, its first bytes already read: a
    linked blob whose bytes are gone is refused here, before any response byte is sent,
    by the one request that reads it (instead of a check and then the read)."""
    stream = ctx.storage.read(blob.key, offset, length)
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        first = b""
    except ObjectNotFound:
        raise BlobUnknown(f"blob {blob.digest} is missing from storage") from None
    return _after(first, stream)


async def _after(first: bytes, rest: AsyncIterator[bytes]) -> AsyncGenerator[bytes]:
    try:
        if first:
            yield first
        async for data in rest:
            yield data
    finally:  # closed early (the client went away): the store's stream is released now
        close = getattr(rest, "aclose", None)
        if close is not None:
            await close()


async def link_blob(db: Queries, *, package_id: int, digest: str, now: float) -> None:
    """Link a blob into a package, or renew the link: garbage collection leaves a link
    younger than its grace period alone, so a push that is still going keeps its layers."""
    await db.execute(
        "INSERT INTO package_blobs (package_id, digest, created_at) VALUES (:p, :d, :now)"
        " ON CONFLICT (package_id, digest) DO UPDATE SET created_at = excluded.created_at",
        {"p": package_id, "d": digest, "now": now},
    )


async def delete_blob(ctx: Context, *, name: str, digest: Digest) -> None:
    """Unlink a blob from one package; the bytes go later, with garbage collection."""
    async with ctx.db.transaction() as tx:
        package_id = await find_package(tx, name)
        removed = await tx.execute(
            "DELETE FROM package_blobs WHERE package_id = :p AND digest = :d",
            {"p": package_id, "d": str(digest)},
        )
        if removed:
            await outbox.record(
                tx,
                "blob.deleted",
                package=name,
                digest=str(digest),
                target=f"{name}@{digest}",
                at=ctx.now(),
            )
    if not removed:
        raise _unknown(digest, name)


async def mount_blob(
    ctx: Context,
    *,
    name: str,
    digest: Digest,
    source: str | None,
    may_pull: Callable[[str], Awaitable[bool]],
) -> bool:
    """Link a blob that `source` (or, without it, any package) already links; False if none
    does, or the caller may not pull from it: a mount never reveals that a blob exists."""
    if source is not None:
        candidates = [source]
    else:
        rows = await ctx.db.fetchall(
            "SELECT p.name FROM package_blobs pb JOIN packages p ON p.id = pb.package_id"
            " WHERE pb.digest = :d ORDER BY p.name LIMIT 100",
            {"d": str(digest)},
        )
        candidates = [row["name"] for row in rows]
    for candidate in candidates:
        if not await may_pull(candidate):
            continue
        found = await ctx.db.fetchone(_LINKED_BLOB, {"name": candidate, "digest": str(digest)})
        if found:
            break
    else:
        return False
    try:
        async with ctx.db.transaction() as tx:
            await hold_quota(tx, name=name, digest=str(digest), size=int(found["size"]))
            package_id = await ensure_package(tx, name, ctx.now())
            await link_blob(tx, package_id=package_id, digest=str(digest), now=ctx.now())
    except IntegrityError:  # garbage collection took the blob since: the client uploads it
        return False
    return True
