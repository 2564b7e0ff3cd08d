"""Every error of the management API as RFC 9457 problem JSON, rendered in one place.

The body is `{"type", "title", "status", "detail"}` with `type` `about:blank` (the
status says what kind of problem it is) and, for a request that fails validation,
an `errors` list naming each field. Every domain error is rendered from its class
data: a `ServiceError`'s `status` and `headers` (NotFound 404, Forbidden 403, Conflict
409, Invalid 422, Unauthenticated and LoginFailed 401, TooManyAttempts 429 with
`Retry-After`), a `RegistryError`'s (`Unavailable` 503 when the database or the store
is down) likewise. A 401 gets the bearer challenge here, since it depends on the request.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from cargohold.oci.errors import RegistryError
from cargohold.services.context import Context
from cargohold.services.errors import ServiceError
from cargohold.web.api.problem_json import PROBLEM_JSON, internal_problem, problem
from cargohold.web.observe import request_id


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem detail."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None
    instance: str | None = None  # a 500: `urn:cargohold:request:ID`, the request id
    request_id: str | None = None  # a 500: the id the server's log names the error under


def challenge(request: Request, *, invalid: bool) -> dict[str, str]:
    ctx: Context = request.app.state.context
    value = f'Bearer realm="{ctx.settings.token_service}"'
    if invalid:
        value += ', error="invalid_token"'
    return {"WWW-Authenticate": value}


async def service_error(request: Request, exc: Exception) -> Response:
    """Any domain error, by its class data; a 401 (no credentials, or wrong ones) with the
    challenge, `invalid_token` when credentials were sent."""
    assert isinstance(exc, ServiceError)
    headers = dict(exc.headers)
    if exc.status == 401:
        headers.update(challenge(request, invalid="authorization" in request.headers))
    return problem(exc.status, exc.message, headers=headers or None)


async def registry_error(request: Request, exc: Exception) -> Response:
    """An error of the registry's vocabulary that reached the API (`Unavailable`: the
    database or the store is down), by its class data."""
    assert isinstance(exc, RegistryError)
    return problem(exc.http_status, exc.message, headers=exc.headers or None)


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type"))}
        for e in exc.errors()
    ]
    malformed = any(e["type"] == "json_invalid" for e in errors)
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"])
    detail = f"{where}: {first['msg']}" if where else str(first["msg"])
    return problem(400 if malformed else 422, detail, errors=errors)


async def http_error(request: Request, exc: Exception) -> Response:
    """The framework's own errors: no such route (404), wrong method (405), bad body (400)."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        detail = f"{request.url.path[:200]} is not an endpoint of this API"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path[:200]}"
    else:
        detail = str(exc.detail)
    return problem(exc.status_code, detail, headers=dict(exc.headers or {}))


async def server_error(request: Request, exc: Exception) -> Response:
    """An error no handler took. The request middleware (web/observe.py) logs it, with its
    traceback and the request id, once this answer is sent."""
    return internal_problem(request_id(request))


HANDLERS: dict[Any, Any] = {
    ServiceError: service_error,
    RegistryError: registry_error,
    RequestValidationError: validation_error,
    HTTPException: http_error,
    Exception: server_error,
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problems an operation may answer with."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
