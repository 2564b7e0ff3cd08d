"""The pull-through cache (docs/mirror.md): a pull of a mirror's package that the registry
does not hold is fetched from the upstream, checked against its digest, stored, then served.

- Manifests (by tag or digest) are fetched whole (at most `max_manifest_size`), their digest
  checked (the one asked for, and the `Docker-Content-Digest` the upstream names), stored as
  the exact bytes, with the tag. The package is made on its first pull, linked to the
  mirror's repository. An index's platform manifests and blobs are fetched when they are
  pulled, not before.
- A blob is fetched once per process however many clients ask at once (single flight, keyed
  by digest): the first client gets the bytes as they arrive while they are written to the
  store; the others wait for the blob to be stored and get it from there. The bytes are kept
  only when their digest and size match: otherwise nothing is stored, and the first client's
  answer breaks off before its end (the others get an error). Two nodes may fetch the same
  blob at the same time: both write the same content under the same address, and one row
  stands.
- A cached tag is served as is until `tag_ttl` has passed since it was fetched or checked;
  then a HEAD upstream says whether it moved (a new manifest is fetched) or not. When the
  upstream cannot be reached, answers 429 or 5xx, the cached manifest is served with a
  `Warning` header; a tag never seen is 404 MANIFEST_UNKNOWN when the upstream says it does
  not exist, and 503 UNAVAILABLE when the upstream cannot say.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from cargohold.authz.roles import Role
from cargohold.metadata.db import Queries
from cargohold.oci import mediatypes
from cargohold.oci.digest import Digest, is_digest
from cargohold.oci.errors import (
    BlobUnknown,
    DigestInvalid,
    ManifestUnknown,
    Unavailable,
)
from cargohold.oci.manifest import parse_manifest
from cargohold.services import outbound
from cargohold.services.accounts.directory import find_repository
from cargohold.services.accounts.principals import Principal, repository_role
from cargohold.services.context import Context
from cargohold.services.events import outbox
from cargohold.services.registry import manifests, mirrors, uploads
from cargohold.services.registry.blobs import BlobInfo, link_blob
from cargohold.services.registry.manifests import StoredManifest
from cargohold.services.registry.mirrors import Sealed
from cargohold.services.registry.packages import find_package, link_package
from cargohold.services.remote.client import Remote, RemoteError
from cargohold.storage.base import ObjectNotFound
from cargohold.storage.paths import blob_key, upload_key

log = logging.getLogger("cargohold.mirror")

ACCEPT = ", ".join(
    [
        mediatypes.OCI_INDEX,
        mediatypes.OCI_MANIFEST,
        mediatypes.DOCKER_MANIFEST_LIST,
        mediatypes.DOCKER_MANIFEST,
    ]
)
# RFC 9111 5.5: 110 "Response is Stale", 111 "Revalidation Failed".
STALE = '110 - "Response is Stale: the upstream could not be asked; served from the cache"'
LIVE_CHUNKS = 8  # pieces the first client's answer may fall behind the fetch
BATCH = 1024 * 1024  # bytes of a piece: hashed, sent and written at once


@dataclass(frozen=True, slots=True)
class Pulled:
    manifest: StoredManifest
    warning: str | None = None  # a `Warning` header value: the upstream could not be asked


# Which packages are mirrored, and who may read them -------------------------------------


async def find(ctx: Context, name: str) -> Sealed | None:
    """The mirror `name` belongs to, if any; refreshes what this process knows of them."""
    if mirrors.split_name(name) is None:
        return None
    found = await mirrors.find_for_name(ctx.db, name)
    if found is not None and found.mirror.name not in ctx.mirrors.names:
        await refresh(ctx)
    return found


async def refresh(ctx: Context) -> None:
    rows = await ctx.db.fetchall(
        "SELECT w.slug, m.prefix FROM mirrors m JOIN workspaces w ON w.id = m.workspace_id"
    )
    ctx.mirrors.known(frozenset(f"{row['slug']}/{row['prefix']}" for row in rows))


async def reader_role(ctx: Context, principal: Principal, name: str) -> Role | None:
    """The principal's role on a mirror's package that is not held yet: its role on the
    mirror's repository. None when `name` is no mirror's."""
    found = await mirrors.find_for_name(ctx.db, name)
    if found is None:
        return None
    repository = await find_repository(ctx.db, found.mirror.repository)
    return await repository_role(ctx.db, principal, repository)


def remote(ctx: Context, found: Sealed) -> Remote:
    """The client of the mirror's upstream, kept while the mirror is unchanged (its tokens)."""
    key = (found.mirror.id, found.mirror.updated_at)
    client = ctx.mirrors.remotes.get(key)
    if client is None:
        for old in [k for k in ctx.mirrors.remotes if k[0] == found.mirror.id]:
            del ctx.mirrors.remotes[old]
        client = ctx.mirrors.remotes[key] = mirrors.remote_of(ctx, found)
    return client


def _unavailable(found: Sealed, why: str) -> Unavailable:
    return Unavailable(
        f"the upstream of mirror {found.mirror.name} ({outbound.redact(found.mirror.upstream)})"
        f" could not be asked: {why}; try again later",
        detail={"mirror": found.mirror.name},
        headers={"Retry-After": "30"},
    )


def _status_problem(status: int) -> str:
    if status == 429:
        return "it answered 429 (too many requests)"
    if status in (401, 403):
        return f"it refused the mirror's credentials ({status})"
    return f"it answered {status}"


# Manifests --------------------------------------------------------------------------------


async def pull_manifest(ctx: Context, found: Sealed, name: str, reference: str) -> Pulled:
    """Fetch a manifest the registry does not hold, store it, and return it."""
    upstream = mirrors.upstream_name(found.mirror, name)
    path = f"/v2/{upstream}/manifests/{reference}"
    try:
        reply = await remote(ctx, found).get(path, headers={"Accept": ACCEPT})
    except RemoteError as exc:
        raise _unavailable(found, exc.message) from None
    if reply.status == 404:
        raise ManifestUnknown(
            f"manifest {reference!r} is not in {upstream} at the upstream of mirror"
            f" {found.mirror.name}",
            detail={"reference": reference, "upstream": upstream},
        )
    if reply.status != 200:
        raise _unavailable(found, _status_problem(reply.status))
    return Pulled(await _store_manifest(ctx, found, name, reference, reply.body, reply.headers))


async def _store_manifest(
    ctx: Context,
    found: Sealed,
    name: str,
    reference: str,
    payload: bytes,
    headers: Mapping[str, str],
) -> StoredManifest:
    media_type = headers.get("content-type", "").split(";")[0].strip() or None
    manifest = parse_manifest(payload, media_type)
    algorithm = reference.split(":")[0] if is_digest(reference) else "sha256"
    digest = Digest(algorithm, hashlib.new(algorithm, payload).hexdigest())
    named = headers.get("docker-content-digest")
    expected = reference if is_digest(reference) else named
    wanted = Digest.parse(expected) if expected is not None and is_digest(expected) else None
    if wanted is not None and wanted.algorithm == digest.algorithm and wanted != digest:
        raise DigestInvalid(
            f"the upstream of mirror {found.mirror.name} sent a manifest whose digest is"
            f" {digest}, not {expected}; nothing was stored",
            detail={"expected": str(expected), "actual": str(digest)},
        )
    now = ctx.now()
    async with ctx.db.transaction() as tx:
        package_id = await _ensure_package(tx, found, name, now)
        manifest_id = await manifests._insert(tx, package_id, digest, manifest, payload, now)
        child = await tx.fetchone(
            "SELECT 1 FROM manifest_references r JOIN manifests m ON m.id = r.manifest_id"
            " WHERE m.package_id = :p AND r.digest = :d AND r.kind = 'manifest'",
            {"p": package_id, "d": str(digest)},
        )
        if child is not None:
            await tx.execute(
                "UPDATE manifests SET is_child = :t WHERE id = :m", {"t": True, "m": manifest_id}
            )
        if not is_digest(reference):
            await tx.execute(
                "INSERT INTO tags (package_id, name, manifest_id, updated_at, pushed_by)"
                " VALUES (:p, :tag, :m, :now, :by) ON CONFLICT (package_id, name)"
                " DO UPDATE SET manifest_id = excluded.manifest_id,"
                " updated_at = excluded.updated_at, pushed_by = excluded.pushed_by",
                {
                    "p": package_id,
                    "tag": reference,
                    "m": manifest_id,
                    "now": now,
                    "by": f"mirror {found.mirror.name}",
                },
            )
            await _checked(tx, package_id, reference, now)
    return StoredManifest(str(digest), manifest.media_type, payload, child is not None)


async def _checked(tx: Queries, package_id: int, tag: str, now: float) -> None:
    await tx.execute(
        "INSERT INTO mirror_tags (package_id, tag, checked_at) VALUES (:p, :t, :now)"
        " ON CONFLICT (package_id, tag) DO UPDATE SET checked_at = excluded.checked_at",
        {"p": package_id, "t": tag, "now": now},
    )


async def _ensure_package(tx: Queries, found: Sealed, name: str, now: float) -> int:
    """The package's id, made on its first pull and linked to the mirror's repository."""
    created = await tx.execute(
        "INSERT INTO packages (name, created_at) VALUES (:name, :now) ON CONFLICT DO NOTHING",
        {"name": name, "now": now},
    )
    package_id = await find_package(tx, name)
    if created:
        repository = await find_repository(tx, found.mirror.repository)
        await link_package(tx, package_id=package_id, repository=repository)
        await outbox.record(
            tx,
            "package.created",
            package=name,
            repository=repository.full_name,
            target=f"{name}, mirrored from {outbound.redact(found.mirror.upstream)}",
            data={"on": "pull", "mirror": found.mirror.name},
            at=now,
        )
    return package_id


async def revalidate(ctx: Context, name: str, tag: str, stored: StoredManifest) -> Pulled:
    """A cached tag of a mirror's package: as is while its TTL runs; then checked upstream
    with a HEAD (a moved tag is fetched again). Served from the cache, with a warning, when
    the upstream cannot be asked."""
    if not ctx.mirrors.watches(name):
        return Pulled(stored)
    if ctx.mirrors.stale():
        await refresh(ctx)
        if not ctx.mirrors.watches(name):
            return Pulled(stored)
    found = await mirrors.find_for_name(ctx.db, name)
    if found is None:
        return Pulled(stored)
    row = await ctx.db.fetchone(
        "SELECT p.id, mt.checked_at FROM packages p LEFT JOIN mirror_tags mt"
        " ON mt.package_id = p.id AND mt.tag = :t WHERE p.name = :n",
        {"t": tag, "n": name},
    )
    now = ctx.now()
    if row is None or (
        row["checked_at"] is not None and now - float(row["checked_at"]) < found.mirror.tag_ttl
    ):
        return Pulled(stored)
    upstream = mirrors.upstream_name(found.mirror, name)
    path = f"/v2/{upstream}/manifests/{tag}"
    try:
        reply = await remote(ctx, found).head(path, headers={"Accept": ACCEPT})
    except RemoteError as exc:
        log.info("mirror %s: %s; serving %s:%s from the cache", found.mirror.name, exc, name, tag)
        return Pulled(stored, STALE)
    if reply.status != 200:
        log.info(
            "mirror %s: the upstream answered %d to a tag check; serving %s:%s from the cache",
            found.mirror.name,
            reply.status,
            name,
            tag,
        )
        return Pulled(stored, STALE)
    if reply.headers.get("docker-content-digest") == stored.digest:
        async with ctx.db.transaction() as tx:
            await _checked(tx, int(row["id"]), tag, now)
            # A tag still in use looks freshly pushed to retention's tag_days (mirror.md).
            await tx.execute(
                "UPDATE tags SET updated_at = :now WHERE package_id = :p AND name = :t",
                {"now": now, "p": int(row["id"]), "t": tag},
            )
        return Pulled(stored)
    try:
        return await pull_manifest(ctx, found, name, tag)
    except (Unavailable, ManifestUnknown):
        return Pulled(stored, STALE)


# Referrers --------------------------------------------------------------------------------


async def upstream_referrers(
    ctx: Context, found: Sealed, name: str, digest: Digest, artifact_type: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The upstream's referrers of `digest` (the first page it gives) for `name`, a package
    of mirror `found`, with a `Warning` value when the upstream could not be asked. Nothing
    for an upstream without the referrers API (404: an OCI 1.0 registry). Only descriptors
    that are whole are kept: a media type, a digest, a size."""
    upstream = mirrors.upstream_name(found.mirror, name)
    path = f"/v2/{upstream}/referrers/{digest}"
    if artifact_type is not None:
        path += "?" + urlencode({"artifactType": artifact_type})
    try:
        reply = await remote(ctx, found).get(
            path,
            headers={"Accept": mediatypes.OCI_INDEX},
            max_bytes=ctx.settings.max_manifest_size,
        )
    except RemoteError as exc:
        log.info("mirror %s: %s; referrers of %s from the cache", found.mirror.name, exc, name)
        return [], STALE
    if reply.status == 404:
        return [], None
    if reply.status != 200:
        log.info(
            "mirror %s: the upstream answered %d to referrers; %s from the cache",
            found.mirror.name,
            reply.status,
            name,
        )
        return [], STALE
    return _whole_descriptors(reply.body, artifact_type), None


def _whole_descriptors(body: bytes, artifact_type: str | None) -> list[dict[str, Any]]:
    try:
        index = json.loads(body)
    except ValueError:
        return []
    listed = index.get("manifests") if isinstance(index, dict) else None
    kept = []
    for item in listed if isinstance(listed, list) else []:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("mediaType"), str)
            and isinstance(item.get("digest"), str)
            and is_digest(item["digest"])
            and type(item.get("size")) is int
            and item["size"] >= 0
        ):
            continue
        if artifact_type is not None and item.get("artifactType") != artifact_type:
            continue  # an upstream that does not filter
        kept.append(item)
    return kept


# Blobs ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Live:
    """The bytes of a blob as they arrive, for the client that asked first."""

    size: int
    chunks: AsyncIterator[bytes]
    flight: _Flight


@dataclass(slots=True)
class _Flight:
    started: asyncio.Future[int]  # the blob's size, once the upstream answers
    queue: asyncio.Queue[bytes | None] | None  # the first client's, while it listens
    dropped: bool = False  # the first client took no piece for too long: it was let go


async def pull_blob(ctx: Context, found: Sealed, name: str, digest: Digest) -> BlobInfo | Live:
    """A blob of a mirror's package that the package does not hold: linked at once when
    the registry holds it already (no fetch), else fetched (one fetch per digest in this
    process). The first asker gets `Live` bytes; the others wait and get the stored blob."""
    known = await _link_known(ctx, found, name, digest)
    if known is not None:
        return known
    state = ctx.mirrors
    task = state.flights.get(str(digest))
    if task is not None:
        await asyncio.shield(task)
        return await _stored(ctx, found, name, digest)
    loop = asyncio.get_running_loop()
    flight = _Flight(loop.create_future(), asyncio.Queue(LIVE_CHUNKS))
    flight.started.add_done_callback(_retrieve)
    task = loop.create_task(_fetch(ctx, found, name, digest, flight))
    state.flights[str(digest)] = task
    task.add_done_callback(lambda _: state.flights.pop(str(digest), None))
    task.add_done_callback(_retrieve)
    try:
        size = await asyncio.shield(flight.started)
    except BaseException:
        flight.queue = None
        raise
    return Live(size, _listen(flight, task), flight)


def _retrieve(done: asyncio.Future[Any]) -> None:
    if not done.cancelled():
        done.exception()  # the askers got it; no "never retrieved" warning


async def _listen(flight: _Flight, task: asyncio.Task[None]) -> AsyncIterator[bytes]:
    queue = flight.queue
    assert queue is not None
    try:
        while not (queue.empty() and task.done()):
            getting = asyncio.ensure_future(queue.get())
            await asyncio.wait({getting, task}, return_when=asyncio.FIRST_COMPLETED)
            if not getting.done():
                getting.cancel()
                continue
            chunk = getting.result()
            if chunk is None:
                break
            yield chunk
        if flight.dropped:
            raise BlobUnknown("the client took too long to read the blob; pull it again")
        await asyncio.shield(task)  # raises when the bytes did not match: the answer breaks
    finally:
        flight.queue = None  # the fetch goes on without us (a client gone)
        while not queue.empty():
            queue.get_nowait()


def stop_listening(live: Live) -> None:
    """The asker wants no bytes (a HEAD): the fetch goes on, storing them."""
    live.flight.queue = None


async def _link_known(ctx: Context, found: Sealed, name: str, digest: Digest) -> BlobInfo | None:
    row = await ctx.db.fetchone("SELECT size FROM blobs WHERE digest = :d", {"d": str(digest)})
    if row is None:
        return None
    try:
        await ctx.storage.size(blob_key(digest))
    except ObjectNotFound:
        return None
    now = ctx.now()
    async with ctx.db.transaction() as tx:
        package_id = await _ensure_package(tx, found, name, now)
        await link_blob(tx, package_id=package_id, digest=str(digest), now=now)
    return BlobInfo(digest, int(row["size"]), blob_key(digest))


async def _stored(ctx: Context, found: Sealed, name: str, digest: Digest) -> BlobInfo:
    known = await _link_known(ctx, found, name, digest)
    if known is None:
        raise BlobUnknown(f"blob {digest} could not be fetched from the upstream; try again")
    return known


async def _fetch(ctx: Context, found: Sealed, name: str, digest: Digest, flight: _Flight) -> None:
    try:
        await _fetch_into_store(ctx, found, name, digest, flight)
    except BaseException as exc:
        if not flight.started.done():
            flight.started.set_exception(exc)
        raise
    finally:
        queue = flight.queue
        if queue is not None:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)


async def _fetch_into_store(
    ctx: Context, found: Sealed, name: str, digest: Digest, flight: _Flight
) -> None:
    upstream = mirrors.upstream_name(found.mirror, name)
    path = f"/v2/{upstream}/blobs/{digest}"
    policy = mirrors.blob_policy(ctx.settings)
    ctx.mirrors.fetches += 1
    try:
        async with remote(ctx, found).stream(path, policy=policy) as answer:
            if answer.status == 404:
                raise BlobUnknown(
                    f"blob {digest} is not in {upstream} at the upstream of mirror"
                    f" {found.mirror.name}",
                    detail={"digest": str(digest)},
                )
            if answer.status != 200:
                raise _unavailable(found, _status_problem(answer.status))
            declared = answer.headers.get("content-length", "")
            if not declared.isascii() or not declared.isdigit():
                raise _unavailable(found, "it sent a blob without its length")
            size = int(declared)
            if size > ctx.settings.max_blob_size:
                raise _unavailable(found, "the blob is larger than this registry's limit")
            flight.started.set_result(size)
            await _write(ctx, found, name, digest, size, answer.chunks(), flight)
    except RemoteError as exc:
        raise _unavailable(found, exc.message) from None


async def _write(
    ctx: Context,
    found: Sealed,
    name: str,
    digest: Digest,
    size: int,
    chunks: AsyncIterator[bytes],
    flight: _Flight,
) -> None:
    """Write the bytes to a temporary upload (a session row keeps it from collection),
    then publish and link them when digest and size match; drop them otherwise."""
    upload_id = secrets.token_hex(24)
    key = upload_key(upload_id)
    state = await ctx.storage.start_upload(key)
    now = ctx.now()
    await ctx.db.execute(
        "INSERT INTO uploads (id, package_name, size, state, created_at, updated_at, opened_by)"
        " VALUES (:id, :name, 0, :state, :now, :now, NULL)",
        {"id": upload_id, "name": name, "state": state, "now": now},
    )
    hasher = hashlib.new(digest.algorithm)

    hashing: asyncio.Future[None] | None = None

    async def hand_on(piece: bytes) -> bytes:
        """Hash `piece` in a thread while it is written and sent (after the one before)."""
        nonlocal hashing
        if hashing is not None:
            await hashing
        hashing = asyncio.ensure_future(asyncio.to_thread(hasher.update, piece))
        queue = flight.queue
        if queue is not None:
            try:  # a client that stopped reading (or never began) does not stall the fetch
                await asyncio.wait_for(queue.put(piece), ctx.settings.mirror_timeout)
            except TimeoutError:
                flight.queue, flight.dropped = None, True
        return piece

    async def passing() -> AsyncIterator[bytes]:
        """The upstream's bytes in pieces of about BATCH bytes (a read off the network is
        often 64 KiB), each hashed, handed to the first client and written."""
        batch = bytearray()
        async for chunk in chunks:
            batch += chunk
            if len(batch) >= BATCH:
                piece, batch = bytes(batch), bytearray()
                yield await hand_on(piece)
        if batch:
            yield await hand_on(bytes(batch))

    try:
        try:
            written, state = await ctx.storage.append_upload(key, state, 0, passing())
        except outbound.OutboundError as exc:
            raise _unavailable(found, exc.message) from None
        if hashing is not None:
            await hashing
        if written != size or hasher.hexdigest() != digest.encoded:
            actual = f"{digest.algorithm}:{hasher.hexdigest()}"
            raise DigestInvalid(
                f"the upstream of mirror {found.mirror.name} sent {written} bytes with digest"
                f" {actual} for blob {digest} of {size} bytes; nothing was stored",
                detail={"expected": str(digest), "actual": actual},
            )
        await uploads._wait_for_collection(ctx, digest)
        await ctx.storage.publish_upload(key, state, blob_key(digest))
    except BaseException:
        if hashing is not None:  # let the thread finish before leaving
            with contextlib.suppress(BaseException):
                await hashing
        await ctx.storage.abort_upload(key, state)
        await ctx.db.execute("DELETE FROM uploads WHERE id = :id", {"id": upload_id})
        raise
    now = ctx.now()
    async with ctx.db.transaction() as tx:
        await tx.execute(
            "INSERT INTO blobs (digest, size, created_at) VALUES (:d, :size, :now)"
            " ON CONFLICT DO NOTHING",
            {"d": str(digest), "size": size, "now": now},
        )
        package_id = await _ensure_package(tx, found, name, now)
        await link_blob(tx, package_id=package_id, digest=str(digest), now=now)
        await tx.execute("DELETE FROM uploads WHERE id = :id", {"id": upload_id})
