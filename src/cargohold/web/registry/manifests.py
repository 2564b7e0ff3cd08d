"""GET, HEAD, PUT and DELETE /v2/<name>/manifests/<reference>."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from cargohold.authz.roles import Action
from cargohold.oci import mediatypes
from cargohold.oci.digest import is_digest
from cargohold.oci.errors import ManifestUnknown, NameUnknown
from cargohold.oci.names import is_valid_tag
from cargohold.services.context import Context
from cargohold.services.registry import manifests
from cargohold.services.registry.packages import find_package
from cargohold.web.actors import request_actor
from cargohold.web.registry import auth, mirror
from cargohold.web.registry.common import content_headers, context, is_count


def _accepted(request: Request) -> set[str] | None:
    """Manifest media types the client lists in Accept, or None when it accepts any."""
    listed = set()
    for header in request.headers.getlist("accept"):
        for item in header.split(","):
            media_type = item.split(";")[0].strip()
            if media_type in ("*/*", "application/*"):
                return None
            listed.add(media_type)
    wanted = listed & mediatypes.MANIFESTS
    return wanted or None


def _may_override(request: Request, name: str) -> Callable[[], Awaitable[bool]]:
    """Whether the caller may move or delete a protected tag: asked only when a rule
    applies. The role counts, not the token's actions: docker asks for pull,push when
    pushing, never for delete."""
    caller = request.state.caller

    async def check() -> bool:
        role = await caller.role(name)
        return bool(role >= Action.DELETE_IMAGE.required)

    return check


async def _refuse_what_no_tag_names(ctx: Context, name: str, reference: str) -> None:
    """A reference that is neither a digest nor a valid tag names nothing that could be
    stored: reading or deleting it is 404 MANIFEST_UNKNOWN (as the conformance suite and
    the distribution project have it); only a PUT to it is 400 TAG_INVALID."""
    if is_digest(reference) or is_valid_tag(reference):
        return
    await find_package(ctx.db, name)
    raise ManifestUnknown(
        f"manifest {reference[:140]!r} is not in repository {name!r}: it is not a valid tag"
        " (1 to 128 letters, digits, _ . and -, not starting with . or -) nor a digest",
        detail={"reference": reference[:256]},
    )


async def get_manifest(request: Request, name: str, reference: str) -> Response:
    ctx = context(request)
    await _refuse_what_no_tag_names(ctx, name, reference)
    warning = None
    try:
        stored = await manifests.get_manifest(ctx, name=name, reference=reference)
        if ctx.mirrors.watches(name):  # no I/O unless `name` is a mirror's (docs/mirror.md)
            stored, warning = await mirror.revalidate(ctx, name, reference, stored)
    except (NameUnknown, ManifestUnknown) as miss:
        stored, warning = await mirror.manifest_on_miss(ctx, name, reference, miss)
    accepted = _accepted(request)
    if accepted is not None and stored.media_type not in accepted:
        raise ManifestUnknown(
            f"manifest {reference!r} is a {stored.media_type}, which the Accept header excludes",
            detail={"mediaType": stored.media_type},
        )
    headers = content_headers(stored.digest, len(stored.payload), stored.media_type)
    if warning is not None:
        headers["Warning"] = warning
    if request.method == "HEAD":
        return Response(status_code=200, headers=headers)
    if manifests.count_pull(ctx, name, reference, stored):
        with request_actor(request.scope):
            auth.identify(request.state.caller)
            await manifests.audit_pull(ctx, name=name, reference=reference, stored=stored)
    return Response(stored.payload, status_code=200, headers=headers)


async def put_manifest(request: Request, name: str, reference: str) -> Response:
    ctx = context(request)
    limit = ctx.settings.max_manifest_size
    declared = request.headers.get("content-length", "")
    if is_count(declared) and (len(declared) > 19 or int(declared) > limit):
        raise manifests.manifest_too_large(ctx)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise manifests.manifest_too_large(ctx)
    result = await manifests.put_manifest(
        ctx,
        name=name,
        reference=reference,
        payload=bytes(body),
        content_type=request.headers.get("content-type"),
        pushed_by=request.state.caller.actor,
        may_override=_may_override(request, name),
    )
    headers = {
        "Location": f"/v2/{name}/manifests/{result.digest}",
        "Docker-Content-Digest": str(result.digest),
        "Content-Length": "0",
    }
    if result.subject is not None:
        headers["OCI-Subject"] = str(result.subject)
    return Response(status_code=201, headers=headers)


async def delete_manifest(request: Request, name: str, reference: str) -> Response:
    ctx = context(request)
    await _refuse_what_no_tag_names(ctx, name, reference)
    await manifests.delete_manifest(
        ctx,
        name=name,
        reference=reference,
        may_override=_may_override(request, name),
    )
    return Response(status_code=202, headers={"Content-Length": "0"})
