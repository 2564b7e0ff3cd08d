"""Blob uploads: POST /v2/<name>/blobs/uploads/ and PATCH, PUT, GET, DELETE on the session."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from cargohold.authz.roles import Action
from cargohold.oci.digest import Digest
from cargohold.oci.errors import BlobUploadInvalid, DigestInvalid
from cargohold.oci.names import validate_name
from cargohold.services.registry import blobs, uploads
from cargohold.services.registry.uploads import Chunk, Upload
from cargohold.web.registry.auth import Caller
from cargohold.web.registry.common import blob_location, context, is_count

_CONTENT_RANGE = re.compile(r"(?:bytes[ =])?(\d{1,19})-(\d{1,19})(?:/(?:\d{1,19}|\*))?")


def _session_headers(upload: Upload) -> dict[str, str]:
    last = upload.size - 1 if upload.size > 0 else 0
    return {
        "Location": f"/v2/{upload.name}/blobs/uploads/{upload.id}",
        "Range": f"0-{last}",
        "Docker-Upload-UUID": upload.id,
        "Content-Length": "0",
    }


def _created(name: str, digest: Digest) -> Response:
    return Response(
        status_code=201,
        headers={
            "Location": blob_location(name, digest),
            "Docker-Content-Digest": str(digest),
            "Content-Length": "0",
        },
    )


def _content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not is_count(raw) or len(raw) > 19:
        raise BlobUploadInvalid(f"Content-Length {raw[:40]!r} is not a byte count")
    return int(raw)


def _chunk(request: Request) -> Chunk:
    """The request body as a chunk, with what the client declared about it."""
    length = _content_length(request)
    raw_range = request.headers.get("content-range")
    if raw_range is None:
        return Chunk(request.stream(), length=length)
    match = _CONTENT_RANGE.fullmatch(raw_range.strip())
    if match is None:
        raise BlobUploadInvalid(
            f"Content-Range {raw_range[:60]!r} is not of the form <start>-<end>"
        )
    return Chunk(request.stream(), int(match[1]), int(match[2]), length)


def _opener(request: Request) -> str:
    """Who opens an upload session, for the cap on open sessions: a user (whichever of
    their tokens they use), an access token, or with auth = none the client's address."""
    caller: Caller = request.state.caller
    subject = caller.claims.subject if caller.claims is not None else caller.principal.subject
    if subject.startswith("user:"):
        return ":".join(subject.split(":")[:2])
    if subject != "anonymous":
        return subject
    return f"address:{request.client.host if request.client else 'unknown'}"


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length != "0"
    return "chunked" in request.headers.get("transfer-encoding", "")


async def start_upload(request: Request, name: str) -> Response:
    ctx = context(request)
    query = request.query_params
    mount = query.get("mount")
    if mount is not None:
        digest = Digest.parse(mount)
        source = query.get("from")
        if source is not None:
            validate_name(source)
        caller: Caller = request.state.caller
        mounted = await blobs.mount_blob(
            ctx,
            name=name,
            digest=digest,
            source=source,
            may_pull=lambda package: caller.may(package, Action.PULL),
        )
        if mounted:
            return _created(name, digest)
    elif "digest" in query:
        digest = Digest.parse(query["digest"])
        await uploads.upload_blob(ctx, name=name, digest=digest, chunk=_chunk(request))
        return _created(name, digest)
    upload = await uploads.start_upload(ctx, name=name, opened_by=_opener(request))
    return Response(status_code=202, headers=_session_headers(upload))


async def patch_upload(request: Request, name: str, upload_id: str) -> Response:
    ctx = context(request)
    try:
        upload = await uploads.append_chunk(
            ctx, name=name, upload_id=upload_id, chunk=_chunk(request)
        )
    except BlobUploadInvalid as exc:
        if exc.http_status == 416:
            current = await uploads.get_upload(ctx, name=name, upload_id=upload_id)
            exc.headers.update(_session_headers(current))
            exc.headers.pop("Content-Length")
        raise
    return Response(status_code=202, headers=_session_headers(upload))


async def put_upload(request: Request, name: str, upload_id: str) -> Response:
    raw_digest = request.query_params.get("digest")
    if not raw_digest:
        raise DigestInvalid("finish the upload with PUT <location>?digest=<algorithm:hex>")
    digest = Digest.parse(raw_digest)
    chunk = _chunk(request) if _has_body(request) else None
    await uploads.finish_upload(
        context(request), name=name, upload_id=upload_id, digest=digest, chunk=chunk
    )
    return _created(name, digest)


async def get_upload(request: Request, name: str, upload_id: str) -> Response:
    upload = await uploads.get_upload(context(request), name=name, upload_id=upload_id)
    return Response(status_code=204, headers=_session_headers(upload))


async def cancel_upload(request: Request, name: str, upload_id: str) -> Response:
    await uploads.cancel_upload(context(request), name=name, upload_id=upload_id)
    return Response(status_code=204)
