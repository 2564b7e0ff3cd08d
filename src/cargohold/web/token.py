"""`GET /token` and `POST /token`: docker token authentication (and OAuth2 for clients that
use it). Answers `{"token", "access_token", "expires_in", "issued_at"}`, with a
`refresh_token` when an offline token is asked for."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cargohold import metrics
from cargohold.authz.errors import ScopeInvalid
from cargohold.authz.scopes import ResourceScope, parse_resource_scopes
from cargohold.services.accounts import logins
from cargohold.services.accounts.principals import ANONYMOUS, Principal
from cargohold.services.context import Context
from cargohold.services.registry import bearer_tokens
from cargohold.web import observe
from cargohold.web.registry.auth import basic_credentials


def _error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> Response:
    """OAuth2-style errors, with the registry's `errors` array beside them for docker.
    Every refusal of /token comes through here, and is counted."""
    metrics.count_refused_token(error)
    code = {
        400: "UNSUPPORTED",
        401: "UNAUTHORIZED",
        413: "SIZE_INVALID",
        429: "TOOMANYREQUESTS",
    }.get(status, "DENIED")
    body = {
        "error": error,
        "error_description": description,
        "errors": [{"code": code, "message": description}],
    }
    return JSONResponse(body, status_code=status, headers=headers)


def body_too_large(limit: int) -> Response:
    """A request body over `max_form_size`, refused before it is read."""
    return _error(
        413,
        "invalid_request",
        f"the request body is larger than this endpoint's limit of {limit} bytes; a token"
        " request is a few scopes and credentials",
    )


def _too_many_scopes(ctx: Context, values: list[str]) -> Response | None:
    limit = ctx.settings.token_max_scopes
    count = sum(1 for value in values for item in value.split(" ") if item)
    if count <= limit:
        return None
    return _error(
        400,
        "invalid_scope",
        f"{count} scopes were asked for; one token request may ask for at most {limit}."
        " Ask for the repositories this job needs, or for several tokens",
    )


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


async def _login(
    ctx: Context, request: Request, username: str, secret: str, workspaces: set[str] | None
) -> Principal:
    address = request.client.host if request.client else None
    try:
        return await logins.authenticate(
            ctx, username=username, secret=secret, address=address, workspaces=workspaces
        )
    except logins.TooManyAttempts as exc:
        raise _Refused(
            _error(429, "slow_down", str(exc), {"Retry-After": str(exc.retry_after)})
        ) from None
    except logins.LoginFailed as exc:
        realm = f'Basic realm="{ctx.settings.token_service}"'
        raise _Refused(
            _error(401, "invalid_grant", exc.message, {"WWW-Authenticate": realm})
        ) from None


def _workspaces(scopes: list[ResourceScope]) -> set[str] | None:
    """The workspaces whose packages are asked for (an ID token is matched against their
    trust policies); None when no package is named (a login)."""
    names = {s.name.partition("/")[0] for s in scopes if s.type == "repository"}
    return names or None


async def _principal(
    ctx: Context, request: Request, params: dict[str, str], workspaces: set[str] | None
) -> Principal:
    grant_type = params.get("grant_type")
    if request.method == "POST" and grant_type == "refresh_token":
        principal = await bearer_tokens.principal_from_refresh(ctx, params.get("refresh_token", ""))
        if principal is None:
            raise _Refused(
                _error(401, "invalid_grant", "the refresh token is not valid; log in again")
            )
        return principal
    if request.method == "POST" and grant_type == "password":
        username, password = params.get("username", ""), params.get("password", "")
        return await _login(ctx, request, username, password, workspaces)
    if request.method == "POST" and grant_type is not None:
        raise _Refused(
            _error(
                400, "unsupported_grant_type", f"grant_type {grant_type[:40]!r} is not supported"
            )
        )
    header = request.headers.get("authorization", "")
    kind, _, value = header.partition(" ")
    if not header:
        return ANONYMOUS
    credentials = basic_credentials(value.strip()) if kind.lower() == "basic" else None
    if credentials is None:
        raise _Refused(
            _error(401, "invalid_request", "send Basic credentials: your email and an API token")
        )
    return await _login(ctx, request, *credentials, workspaces)


async def token(request: Request) -> Response:
    ctx: Context = request.app.state.context
    if ctx.settings.auth == "none":
        return _error(400, "unsupported", "this registry runs without authentication (auth = none)")
    if request.method == "POST":
        form = await request.form()
        params = {k: str(v) for k, v in form.items()}
        scope_values = [str(v) for v in form.getlist("scope")]
    else:
        params = dict(request.query_params)
        scope_values = request.query_params.getlist("scope")
    service = params.get("service")
    if service is not None and service != ctx.settings.token_service:
        return _error(
            400,
            "invalid_request",
            f"this registry's service is {ctx.settings.token_service!r}, not {service[:60]!r}",
        )
    too_many = _too_many_scopes(ctx, scope_values)
    if too_many is not None:
        return too_many
    try:
        scopes = parse_resource_scopes(scope_values)
    except ScopeInvalid as exc:
        return _error(400, "invalid_scope", str(exc))
    try:
        principal = await _principal(ctx, request, params, _workspaces(scopes))
    except _Refused as refused:
        return refused.response
    observe.note_principal(request, principal)
    offline = params.get("offline_token") == "true" or params.get("access_type") == "offline"
    issued = await bearer_tokens.issue(ctx, principal, scopes, offline=offline)
    metrics.TOKENS_ISSUED.inc()
    return JSONResponse(issued.body(), headers={"Cache-Control": "no-store"})
