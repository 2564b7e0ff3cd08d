"""Blob uploads: sessions in the database, bytes in the store, verified before publishing.

Finishing is a fixed order: verify (digest and size), mark the session as finishing,
publish the bytes under their content address, then write the rows. A crash between
the steps leaves at worst an orphan object for garbage collection, never a row without
bytes. Publishing drops the session's stored bytes, so the mark comes first: a session
row that may have lost its bytes says so, and no request continues it. A session whose
stored bytes are gone all the same (a store emptied behind its back) ends with
BLOB_UPLOAD_UNKNOWN, so the client starts over.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from weakref import WeakValueDictionary

from cargohold.metadata.db import IntegrityError
from cargohold.oci.digest import Digest
from cargohold.oci.errors import (
    BlobUploadInvalid,
    BlobUploadUnknown,
    Denied,
    DigestInvalid,
    SizeInvalid,
    TooManyRequests,
)
from cargohold.oci.names import validate_name
from cargohold.services import hashing
from cargohold.services.context import Context
from cargohold.services.hashing import HashState
from cargohold.services.registry.blobs import link_blob
from cargohold.services.registry.packages import ensure_package
from cargohold.services.registry.quotas import check_quota, check_room, hold_quota
from cargohold.storage.base import ObjectNotFound
from cargohold.storage.paths import blob_key, upload_key


@dataclass(frozen=True, slots=True)
class Upload:
    id: str
    name: str
    size: int
    state: str


@dataclass(frozen=True, slots=True)
class Chunk:
    """A request body to append: its bytes, and what the client said about them."""

    stream: AsyncIterator[bytes]
    start: int | None = None
    end: int | None = None
    length: int | None = None


log = logging.getLogger("cargohold.registry")

# Bytes received are hashed in batches of at least this size (see _metered).
_HASH_BATCH = 1024 * 1024

# The state of a session being published, in its row: this, then the state it had. Its
# stored bytes may be gone from then on (publishing drops them).
_FINISHING = "finishing:"

_locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()


def _lock(upload_id: str) -> asyncio.Lock:
    lock = _locks.get(upload_id)
    if lock is None:
        lock = _locks[upload_id] = asyncio.Lock()
    return lock


async def start_upload(ctx: Context, *, name: str, opened_by: str | None = None) -> Upload:
    """Open a session; the package itself appears only once a blob is published into it.

    `opened_by` names who opens it (`user:ID`, `robot:ID`, `address:IP`): one may have
    `max_open_uploads` sessions open (not idle past `upload_idle_expiry`) at once, and is
    refused 429 beyond. Two starts at the same moment may both pass the count: the cap
    bounds what one principal can pile up, it is not an exact quota."""
    validate_name(name)
    await check_room(ctx.db, name=name)
    now = ctx.now()
    if opened_by is not None:
        settings = ctx.settings
        row = await ctx.db.fetchone(
            "SELECT COUNT(*) AS n FROM uploads WHERE opened_by = :by AND updated_at >= :since",
            {"by": opened_by, "since": now - settings.upload_idle_expiry},
        )
        count = int(row["n"]) if row is not None else 0
        if count >= settings.max_open_uploads:
            raise TooManyRequests(
                f"you have {count} upload sessions open, the most one may have; finish or"
                " cancel some (DELETE their Location) before starting another (idle ones end"
                f" after {settings.upload_idle_expiry} s)",
                detail={"open": count, "limit": settings.max_open_uploads},
                headers={"Retry-After": str(min(60, settings.upload_idle_expiry))},
            )
    upload_id = secrets.token_hex(24)
    state = await ctx.storage.start_upload(upload_key(upload_id))
    await ctx.db.execute(
        "INSERT INTO uploads (id, package_name, size, state, created_at, updated_at, opened_by)"
        " VALUES (:id, :name, 0, :state, :now, :now, :by)",
        {"id": upload_id, "name": name, "state": state, "now": now, "by": opened_by},
    )
    return Upload(upload_id, name, 0, state)


async def get_upload(ctx: Context, *, name: str, upload_id: str) -> Upload:
    row = await ctx.db.fetchone(
        "SELECT size, state, updated_at FROM uploads WHERE id = :id AND package_name = :name",
        {"id": upload_id, "name": name},
    )
    if row is None:
        raise BlobUploadUnknown(
            f"upload {upload_id[:64]!r} is unknown to repository {name!r}; start a new one"
        )
    if row["updated_at"] < ctx.now() - ctx.settings.upload_idle_expiry:
        await _discard(ctx, upload_id, row["state"])
        raise BlobUploadUnknown(
            f"upload {upload_id!r} expired after {ctx.settings.upload_idle_expiry} s without"
            " activity; start a new one"
        )
    if row["state"].startswith(_FINISHING):
        raise BlobUploadUnknown(
            f"upload {upload_id!r} is being finished by another request, or its finishing"
            " was cut off; if the blob does not appear, upload it again"
        )
    return Upload(upload_id, name, int(row["size"]), row["state"])


def _check_chunk(ctx: Context, upload: Upload, chunk: Chunk) -> int | None:
    """Validate what the client declared; returns the exact length expected, if known."""
    expected = chunk.length
    if chunk.start is not None and chunk.end is not None:
        if chunk.start != upload.size:
            raise BlobUploadInvalid(
                f"chunk starts at byte {chunk.start} but the upload has {upload.size} bytes;"
                f" send the chunk that starts at {upload.size}",
                status=416,
            )
        if chunk.end < chunk.start:
            raise BlobUploadInvalid(
                f"Content-Range {chunk.start}-{chunk.end} ends before it starts", status=416
            )
        ranged = chunk.end - chunk.start + 1
        if expected is not None and expected != ranged:
            raise SizeInvalid(
                f"Content-Length {expected} does not match Content-Range"
                f" {chunk.start}-{chunk.end} ({ranged} bytes)"
            )
        expected = ranged
    if expected is not None and upload.size + expected > ctx.settings.max_blob_size:
        raise _too_large(ctx)
    return expected


def _too_large(ctx: Context) -> SizeInvalid:
    return SizeInvalid(
        f"blob exceeds this registry's limit of {ctx.settings.max_blob_size} bytes",
        status=413,
        detail={"limit": ctx.settings.max_blob_size},
    )


async def _metered(
    ctx: Context,
    stream: AsyncIterator[bytes],
    offset: int,
    expected: int | None,
    state: HashState | None,
) -> AsyncIterator[bytes]:
    """The chunk's bytes, checked against the limits as they arrive, and hashed (when
    `state` is given) in batches of about a megabyte: a large batch in a thread."""
    received = 0
    limit = ctx.settings.max_blob_size - offset
    batch: list[bytes] = []
    batched = 0
    async for data in stream:
        if not data:
            continue
        received += len(data)
        if received > limit:
            raise _too_large(ctx)
        if expected is not None and received > expected:
            raise SizeInvalid(f"chunk is longer than the {expected} bytes declared")
        if state is None:
            yield data
            continue
        batch.append(data)
        batched += len(data)
        if batched >= _HASH_BATCH:
            await hashing.update(state.hasher, batch, batched)
            for piece in batch:
                yield piece
            batch, batched = [], 0
    if batch:
        assert state is not None
        await hashing.update(state.hasher, batch, batched)
        for piece in batch:
            yield piece
    if expected is not None and received != expected:
        raise SizeInvalid(
            f"chunk ended after {received} of the {expected} bytes declared; send it again"
        )


async def _append(ctx: Context, upload: Upload, chunk: Chunk, dest: str | None = None) -> Upload:
    """Append a chunk. `dest`: the chunk is the whole blob, to be published there or
    discarded (the store may write it there directly, see Backend.append_upload)."""
    expected = _check_chunk(ctx, upload, chunk)
    hash_state = ctx.hashes.take(upload.id, upload.size)
    try:
        size, state = await ctx.storage.append_upload(
            upload_key(upload.id),
            upload.state,
            upload.size,
            _metered(ctx, chunk.stream, upload.size, expected, hash_state),
            dest,
        )
    except ObjectNotFound:
        raise await _lost(ctx, upload) from None
    changed = await ctx.db.execute(
        "UPDATE uploads SET size = :size, state = :state, updated_at = :now"
        " WHERE id = :id AND size = :old AND state = :old_state",
        {
            "size": size,
            "state": state,
            "now": ctx.now(),
            "id": upload.id,
            "old": upload.size,
            "old_state": upload.state,
        },
    )
    if not changed:
        raise BlobUploadInvalid(
            "the upload changed while this chunk was written; check its status and resume",
            status=416,
        )
    if hash_state is not None:
        hash_state.size = size
        ctx.hashes.put(upload.id, hash_state)
    return Upload(upload.id, upload.name, size, state)


async def append_chunk(ctx: Context, *, name: str, upload_id: str, chunk: Chunk) -> Upload:
    async with _lock(upload_id):
        upload = await get_upload(ctx, name=name, upload_id=upload_id)
        return await _append(ctx, upload, chunk)


async def _digest_of(ctx: Context, upload: Upload, algorithm: str) -> str:
    state = ctx.hashes.take(upload.id, upload.size)
    if state is not None and state.size == upload.size and algorithm == "sha256":
        return state.hasher.hexdigest()
    return await hashing.hash_stream(
        algorithm, ctx.storage.read_upload(upload_key(upload.id), upload.state)
    )


async def finish_upload(
    ctx: Context, *, name: str, upload_id: str, digest: Digest, chunk: Chunk | None
) -> None:
    """Append the optional last chunk, verify, publish, link; the session ends either way."""
    async with _lock(upload_id):
        upload = await get_upload(ctx, name=name, upload_id=upload_id)
        if chunk is not None:
            # A monolithic push names its digest before its bytes: they may go straight to
            # where the blob will be (hashed as they pass, so never read back from there).
            whole = upload.size == 0 and digest.algorithm == "sha256"
            dest = blob_key(digest) if whole else None
            try:
                upload = await _append(ctx, upload, chunk, dest)
            except SizeInvalid:
                await _discard(ctx, upload.id, upload.state)
                raise
        try:
            actual = await _digest_of(ctx, upload, digest.algorithm)
        except ObjectNotFound:
            raise await _lost(ctx, upload) from None
        if actual != digest.encoded:
            await _discard(ctx, upload.id, upload.state)
            raise DigestInvalid(
                f"the uploaded {upload.size} bytes have digest {digest.algorithm}:{actual},"
                f" not {digest}; the upload was discarded",
                detail={"expected": str(digest), "actual": f"{digest.algorithm}:{actual}"},
            )
        try:
            await _store(ctx, upload, digest)
        except Denied:  # over the quota: nothing is linked; bytes already stored are garbage
            await _discard(ctx, upload.id, upload.state)
            raise


async def _store(ctx: Context, upload: Upload, digest: Digest) -> None:
    """Link the verified upload's blob: the one already held, or these bytes published."""
    await check_quota(ctx.db, name=upload.name, digest=str(digest), size=upload.size)
    if await _link_known(ctx, upload, digest):  # the session row is gone
        try:
            await ctx.storage.size(blob_key(digest))
        except ObjectNotFound:  # the bytes were lost: these put them back
            try:
                await ctx.storage.publish_upload(
                    upload_key(upload.id), upload.state, blob_key(digest)
                )
            except ObjectNotFound:
                raise _unknown_data(upload) from None
        else:
            await ctx.storage.abort_upload(upload_key(upload.id), upload.state)
        return
    await _wait_for_collection(ctx, digest)
    await _claim(ctx, upload)
    try:
        await ctx.storage.publish_upload(upload_key(upload.id), upload.state, blob_key(digest))
    except ObjectNotFound:
        raise await _lost(ctx, upload) from None
    except BaseException:  # not published: the session's bytes are still there
        await _release(ctx, upload)
        raise
    # The session's stored bytes are gone now: its row is only ever deleted from here on.
    if await _wait_for_collection(ctx, digest):
        await _check_survived(ctx, upload, digest)
    now = ctx.now()
    async with ctx.db.transaction() as tx:
        await hold_quota(tx, name=upload.name, digest=str(digest), size=upload.size)
        await tx.execute(
            "INSERT INTO blobs (digest, size, created_at) VALUES (:d, :size, :now)"
            " ON CONFLICT DO NOTHING",
            {"d": str(digest), "size": upload.size, "now": now},
        )
        package_id = await ensure_package(tx, upload.name, now)
        await link_blob(tx, package_id=package_id, digest=str(digest), now=now)
        await tx.execute("DELETE FROM uploads WHERE id = :id", {"id": upload.id})


async def _claim(ctx: Context, upload: Upload) -> None:
    """Mark the session as finishing, before publishing drops its stored bytes; refused
    when another request changed it meanwhile (appended, or is finishing it too)."""
    claimed = await ctx.db.execute(
        "UPDATE uploads SET state = :claimed, updated_at = :now"
        " WHERE id = :id AND size = :size AND state = :state",
        {
            "claimed": _FINISHING + upload.state,
            "now": ctx.now(),
            "id": upload.id,
            "size": upload.size,
            "state": upload.state,
        },
    )
    if not claimed:
        raise BlobUploadUnknown(
            f"upload {upload.id!r} changed or was finished by another request meanwhile;"
            " check whether the blob exists, or upload it again"
        )


async def _release(ctx: Context, upload: Upload) -> None:
    """Give the session back after publishing failed with its bytes intact (a store that
    is down): the client may finish it again."""
    await ctx.db.execute(
        "UPDATE uploads SET state = :state WHERE id = :id AND state = :claimed",
        {"state": upload.state, "id": upload.id, "claimed": _FINISHING + upload.state},
    )


def _unknown_data(upload: Upload) -> BlobUploadUnknown:
    return BlobUploadUnknown(
        f"the data of upload {upload.id!r} is gone from the store; start a new upload"
    )


async def _lost(ctx: Context, upload: Upload) -> BlobUploadUnknown:
    """The session's stored bytes are gone (the store lost them, or a request that was
    finishing it died half-way): end the session, so that the client starts over."""
    log.warning("upload %s has no data left in the store; its session is removed", upload.id)
    await _discard(ctx, upload.id, upload.state)
    return _unknown_data(upload)


async def _link_known(ctx: Context, upload: Upload, digest: Digest) -> bool:
    """Link a blob the registry already holds, ending the session; False when it holds none.
    Once linked, garbage collection cannot take the blob (the link row refers to it)."""
    now = ctx.now()
    try:
        async with ctx.db.transaction() as tx:
            found = await tx.fetchone("SELECT 1 FROM blobs WHERE digest = :d", {"d": str(digest)})
            if found is None:
                return False
            await hold_quota(tx, name=upload.name, digest=str(digest), size=upload.size)
            package_id = await ensure_package(tx, upload.name, now)
            await link_blob(tx, package_id=package_id, digest=str(digest), now=now)
            await tx.execute("DELETE FROM uploads WHERE id = :id", {"id": upload.id})
    except IntegrityError:  # the collector took the row meanwhile: publish ours after it
        return False
    ctx.hashes.drop(upload.id)
    return True


# How long a tombstone may stand before an upload treats the collector that set it as gone.
TOMBSTONE_TIMEOUT = 120.0


async def _wait_for_collection(ctx: Context, digest: Digest) -> bool:
    """Wait while garbage collection deletes bytes of this digest; True if it was."""
    waited = False
    while True:
        row = await ctx.db.fetchone(
            "SELECT since FROM blob_tombstones WHERE digest = :d", {"d": str(digest)}
        )
        if row is None or row["since"] < ctx.now() - TOMBSTONE_TIMEOUT:
            return waited
        waited = True
        await asyncio.sleep(0.05)


async def _check_survived(ctx: Context, upload: Upload, digest: Digest) -> None:
    """A collector began deleting stray bytes of this digest while these were published
    (it checks their age after its tombstone stands, so it kept them or took them whole):
    refuse the upload, before any row names the bytes, if they are gone."""
    try:
        await ctx.storage.size(blob_key(digest))
    except ObjectNotFound:
        await _discard(ctx, upload.id, upload.state)
        raise BlobUploadInvalid(
            f"garbage collection removed the bytes of {digest} while they were being stored;"
            " upload the blob again"
        ) from None


async def upload_blob(ctx: Context, *, name: str, digest: Digest, chunk: Chunk) -> None:
    """A monolithic upload: one request that carries the whole blob."""
    upload = await start_upload(ctx, name=name)
    try:
        await finish_upload(ctx, name=name, upload_id=upload.id, digest=digest, chunk=chunk)
    except BaseException:
        await _discard(ctx, upload.id, upload.state)
        raise


async def cancel_upload(ctx: Context, *, name: str, upload_id: str) -> None:
    async with _lock(upload_id):
        upload = await get_upload(ctx, name=name, upload_id=upload_id)
        await _discard(ctx, upload.id, upload.state)


async def _discard(ctx: Context, upload_id: str, state: str) -> None:
    """End a session: its row first, then its stored bytes (never the other way round)."""
    ctx.hashes.drop(upload_id)
    await ctx.db.execute("DELETE FROM uploads WHERE id = :id", {"id": upload_id})
    await ctx.storage.abort_upload(upload_key(upload_id), state.removeprefix(_FINISHING))


async def sweep_expired_uploads(ctx: Context) -> int:
    """Remove sessions idle for longer than the expiry, with their partial data."""
    rows = await ctx.db.fetchall(
        "SELECT id, state FROM uploads WHERE updated_at < :cutoff",
        {"cutoff": ctx.now() - ctx.settings.upload_idle_expiry},
    )
    for row in rows:
        await _discard(ctx, row["id"], row["state"])
    return len(rows)
