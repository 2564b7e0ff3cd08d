"""Dispatch /v2 requests: names contain slashes, so the resource is matched from the end."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cargohold.authz.roles import Action
from cargohold.oci.digest import is_digest
from cargohold.oci.errors import NameInvalid, Unsupported
from cargohold.oci.names import validate_name
from cargohold.web import observe
from cargohold.web.actors import request_actor
from cargohold.web.registry import (
    auth,
    blobs,
    catalog,
    manifests,
    mirror,
    referrers,
    tags,
    uploads,
)

Handler = Callable[..., Awaitable[Response]]
PULL, PUSH, DELETE_IMAGE = Action.PULL, Action.PUSH, Action.DELETE_IMAGE
# DELETE of a manifest needs DELETE_IMAGE by digest and only DELETE_TAG by tag: see _action.
_ROUTES: list[tuple[re.Pattern[str], dict[str, tuple[Handler, Action]]]] = [
    (
        re.compile(r"(?P<name>.+)/blobs/uploads/?"),
        {"POST": (uploads.start_upload, PUSH)},
    ),
    (
        re.compile(r"(?P<name>.+)/blobs/uploads/(?P<upload_id>[^/]+)"),
        {
            "PATCH": (uploads.patch_upload, PUSH),
            "PUT": (uploads.put_upload, PUSH),
            "GET": (uploads.get_upload, PUSH),
            "DELETE": (uploads.cancel_upload, PUSH),
        },
    ),
    (
        re.compile(r"(?P<name>.+)/blobs/(?P<digest>[^/]+)"),
        {
            "GET": (blobs.get_blob, PULL),
            "HEAD": (blobs.get_blob, PULL),
            "DELETE": (blobs.delete_blob, DELETE_IMAGE),
        },
    ),
    (
        re.compile(r"(?P<name>.+)/manifests/(?P<reference>[^/]+)"),
        {
            "GET": (manifests.get_manifest, PULL),
            "HEAD": (manifests.get_manifest, PULL),
            "PUT": (manifests.put_manifest, PUSH),
            "DELETE": (manifests.delete_manifest, DELETE_IMAGE),
        },
    ),
    (re.compile(r"(?P<name>.+)/tags/list"), {"GET": (tags.list_tags, PULL)}),
    (
        re.compile(r"(?P<name>.+)/referrers/(?P<digest>[^/]+)"),
        {"GET": (referrers.list_referrers, PULL)},
    ),
]


# The handlers that read a request body, and what that body is.
_BODIES: dict[Handler, str] = {
    uploads.start_upload: "upload",
    uploads.patch_upload: "upload",
    uploads.put_upload: "upload",
    manifests.put_manifest: "manifest",
}


def body_kind(method: str, path: str) -> str | None:
    """What the body of a /v2 request (`path` without the `/v2/` prefix) is, matched as
    `dispatch` matches it: "upload" (a blob's bytes), "manifest", or None (no body is read)."""
    for pattern, methods in _ROUTES:
        if pattern.fullmatch(path):
            route = methods.get(method)
            return _BODIES.get(route[0]) if route else None
    return None


# Each handler's route family, the label of its metrics (docs/operations.md).
_FAMILIES: dict[Handler, str] = {
    uploads.start_upload: "blob_upload_start",
    uploads.patch_upload: "blob_upload_patch",
    uploads.put_upload: "blob_upload_put",
    uploads.get_upload: "blob_upload_get",
    uploads.cancel_upload: "blob_upload_delete",
    blobs.get_blob: "blob_get",
    blobs.delete_blob: "blob_delete",
    manifests.get_manifest: "manifest_get",
    manifests.put_manifest: "manifest_put",
    manifests.delete_manifest: "manifest_delete",
    tags.list_tags: "tags_list",
    referrers.list_referrers: "referrers",
}


def _action(action: Action, params: dict[str, str]) -> Action:
    if action is DELETE_IMAGE and not is_digest(params.get("reference", ":")):
        return Action.DELETE_TAG
    return action


async def base(request: Request) -> Response:
    if request.method not in ("GET", "HEAD"):
        raise _not_allowed(request.method, ["GET", "HEAD"])
    caller = await auth.authenticate(request)
    if not caller.open and not caller.credentials:
        raise auth.unauthorized(request, "log in with docker login (email and an API token)")
    return JSONResponse({})


async def dispatch(request: Request) -> Response:
    path: str = request.path_params["path"]
    if path == "_catalog":
        observe.note(request, "catalog")
        if request.method not in ("GET", "HEAD"):
            raise _not_allowed(request.method, ["GET"])
        request.state.caller = await auth.authenticate(request)
        observe.note_principal(request, request.state.caller)
        return await catalog.list_catalog(request)
    for pattern, methods in _ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        params = match.groupdict()
        if request.app.state.context.settings.docker_mirror is not None:
            params["name"] = await mirror.docker_name(request.app.state.context, params["name"])
        route = methods.get(request.method)
        if route is not None:
            observe.note(request, _FAMILIES[route[0]])
        _check_name(params["name"])
        if route is None:
            raise _not_allowed(request.method, list(methods))
        handler, action = route
        observe.note(request, _FAMILIES[handler], params["name"])
        caller = await auth.authenticate(request)
        observe.note_principal(request, caller)
        await auth.require(request, caller, params["name"], _action(action, params))
        request.state.caller = caller
        if request.method in ("GET", "HEAD"):  # reads change nothing: no actor to bind
            return await handler(request, **params)
        with request_actor(request.scope):
            auth.identify(caller)
            return await handler(request, **params)
    raise Unsupported(
        f"{request.method} /v2/{path[:200]} is not an endpoint of this registry", status=404
    )


def _check_name(name: str) -> None:
    if any(part in (".", "..") for part in name.split("/")):
        raise NameInvalid("repository names cannot contain . or .. path components")
    validate_name(name)


def _not_allowed(method: str, allowed: list[str]) -> Unsupported:
    return Unsupported(
        f"method {method} is not allowed here; allowed: {', '.join(allowed)}",
        status=405,
        headers={"Allow": ", ".join(allowed)},
    )
