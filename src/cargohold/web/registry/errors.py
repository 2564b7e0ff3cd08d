"""Render every registry error as the spec's `{"errors": [...]}` body, in one place."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from cargohold.oci.errors import BlobUploadInvalid, RegistryError, Unsupported
from cargohold.oci.text import encodable
from cargohold.web.observe import request_id

log = logging.getLogger("cargohold.registry")

API_VERSION_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}


def render(error: RegistryError) -> Response:
    """The error's body, with whatever it echoes made encodable: a detail never carries
    text that UTF-8 cannot hold (a lone surrogate from a JSON escape)."""
    headers = {**API_VERSION_HEADER, **error.headers}
    return JSONResponse(encodable(error.body()), status_code=error.http_status, headers=headers)


def answer(request: Request, error: RegistryError) -> Response:
    """`render`, but a HEAD request gets the status and headers without the body (HEAD
    never has one, errors included)."""
    response = render(error)
    if request.method != "HEAD":
        return response
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(status_code=response.status_code, headers=headers)


async def registry_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RegistryError)
    return answer(request, exc)


async def client_disconnect(request: Request, exc: Exception) -> Response:
    return render(BlobUploadInvalid("the client disconnected before the body was complete"))


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405 (no route, method outside the route's list), in our body."""
    assert isinstance(exc, HTTPException)
    return answer(
        request,
        Unsupported(
            f"{request.method} {request.url.path[:200]} is not an endpoint of this registry",
            status=exc.status_code,
        ),
    )


def internal_error(request_id: str | None) -> Response:
    """A 500 for an error no handler rendered; the log has its traceback under the id that
    the body's detail (and the `X-Request-ID` header) names."""
    message = "internal server error; the registry logged the details"
    if request_id is None:
        return render(RegistryError(message))
    message += f" under request id {request_id}"
    return render(RegistryError(message, detail={"request_id": request_id}))


async def server_error(request: Request, exc: Exception) -> Response:
    """The app's last resort, outside the request middleware (web/observe.py), which logs
    and answers every error a route raised itself."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return internal_error(request_id(request))


HANDLERS = {
    RegistryError: registry_error,
    ClientDisconnect: client_disconnect,
    HTTPException: http_error,
    Exception: server_error,
}
