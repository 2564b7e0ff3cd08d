"""Dispatch /v2 requests: names contain slashes, so the resource is matched from the end."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cargohold.oci.errors import NameInvalid, Unsupported
from cargohold.oci.names import validate_name
from cargohold.web.registry import blobs, catalog, manifests, referrers, tags, uploads

Handler = Callable[..., Awaitable[Response]]

_ROUTES: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
    (
        re.compile(r"(?P<name>.+)/blobs/uploads/?"),
        {"POST": uploads.start_upload},
    ),
    (
        re.compile(r"(?P<name>.+)/blobs/uploads/(?P<upload_id>[^/]+)"),
        {
            "PATCH": uploads.patch_upload,
            "PUT": uploads.put_upload,
            "GET": uploads.get_upload,
            "DELETE": uploads.cancel_upload,
        },
    ),
    (
        re.compile(r"(?P<name>.+)/blobs/(?P<digest>[^/]+)"),
        {"GET": blobs.get_blob, "HEAD": blobs.get_blob, "DELETE": blobs.delete_blob},
    ),
    (
        re.compile(r"(?P<name>.+)/manifests/(?P<reference>[^/]+)"),
        {
            "GET": manifests.get_manifest,
            "HEAD": manifests.get_manifest,
            "PUT": manifests.put_manifest,
            "DELETE": manifests.delete_manifest,
        },
    ),
    (re.compile(r"(?P<name>.+)/tags/list"), {"GET": tags.list_tags}),
    (
        re.compile(r"(?P<name>.+)/referrers/(?P<digest>[^/]+)"),
        {"GET": referrers.list_referrers},
    ),
]


async def base(request: Request) -> Response:
    if request.method not in ("GET", "HEAD"):
        raise _not_allowed(request.method, ["GET", "HEAD"])
    return JSONResponse({})


async def dispatch(request: Request) -> Response:
    path: str = request.path_params["path"]
    if path == "_catalog":
        if request.method not in ("GET", "HEAD"):
            raise _not_allowed(request.method, ["GET"])
        return await catalog.list_catalog(request)
    for pattern, methods in _ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        params = match.groupdict()
        _check_name(params["name"])
        handler = methods.get(request.method)
        if handler is None:
            raise _not_allowed(request.method, list(methods))
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
