"""What every request leaves behind: its id, its metrics, its log line, its trace.

`Observe` is the outermost middleware of the app. For each HTTP request it

- takes the request id from `X-Request-ID` when a trusted proxy sent it
  (`trust_proxy_headers`, from one of the `trusted_proxies` if they are set), or makes
  one, and returns it in the response's `X-Request-ID` header;
- tallies the request for the metrics (cargohold/metrics.py) under its *route family*
  (`manifest_get`, `blob_upload_patch`, `token`, `api`, `ui`, ...: bounded, never a raw
  path), which the /v2 route table notes (`note`), the app's `classify` gives the others;
- writes one access line (`logs_requests`: text or JSON) with the id, method, route,
  package, status, bytes, duration, principal and client address;
- logs an error that no handler caught once, with its traceback and the request id,
  and answers 500 through `render_error` when no response had started (each surface's
  own error body carries the id).

The hot path costs a few attribute writes and, with metrics on, one dict hit: whatever
is only needed for the log line (the principal, the client) is formatted only when
the line is written.
"""

from __future__ import annotations

import hmac
import ipaddress
import itertools
import logging
import os
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cargohold import metrics
from cargohold.config import Settings
from cargohold.services.context import Context
from cargohold.web import exposition
from cargohold.web.logs import REQUEST_ID, escape_field

KEY = "cargohold.request"
ACCESS_LOGGER = "cargohold.access"
_HEADER = b"x-request-id"
_VALID_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

access_log = logging.getLogger(ACCESS_LOGGER)
error_log = logging.getLogger("cargohold.errors")


class _Ids:
    """Request ids: this process's random prefix and a counter (unique, and cheaper than
    a random number per request); a forked child draws a prefix of its own."""

    def __init__(self) -> None:
        self.renew()
        os.register_at_fork(after_in_child=self.renew)

    def renew(self) -> None:
        self.prefix = secrets.token_hex(6)
        self.counter = itertools.count(1)

    def new(self) -> str:
        return f"{self.prefix}-{next(self.counter):x}"


_ids = _Ids()


class RequestInfo:
    """What the layers below note about the request they answer, for its metrics and log
    line. Kept in the ASGI scope under `KEY` (copies of the scope share it)."""

    __slots__ = ("client", "id", "package", "principal", "route")

    def __init__(self, request_id: str) -> None:
        self.id = request_id
        self.route: str | None = None
        self.package: str | None = None
        self.principal: Any = None  # a Principal, or a /v2 Caller (claims or principal)
        self.client: Any = None  # the client address behind trusted proxies


def request_info(scope: Scope) -> RequestInfo | None:
    info: RequestInfo | None = scope.get(KEY)
    return info


def request_id(request: Request) -> str | None:
    info = request_info(request.scope)
    return info.id if info is not None else None


def note(request: Request, route: str, package: str | None = None) -> None:
    """The route family of the request (and the package it names)."""
    info = request_info(request.scope)
    if info is not None:
        info.route = route
        info.package = package


def note_principal(request: Request, principal: Any) -> None:
    """Who asks: a Principal, or a /v2 Caller."""
    info = request_info(request.scope)
    if info is not None:
        info.principal = principal


def describe_principal(found: Any) -> tuple[str | None, str | None]:
    """(who, for people: an email or an access token's name; the subject: `user:ID`,
    `user:ID:TOKEN_ID`, `robot:TOKEN_ID`), never a secret; (None, None) for nobody."""
    claims = getattr(found, "claims", None)
    if claims is not None:
        return claims.name, claims.subject
    principal = getattr(found, "principal", found)
    if principal is None or getattr(principal, "anonymous", True):
        return None, None
    return principal.display, principal.subject


class NoteClient:
    """Behind trusted proxies: notes the client address that `ProxyHeaders` (just outside
    this) found, for the log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        info = scope.get(KEY)
        if info is not None:
            info.client = scope.get("client")
        await self.app(scope, receive, send)


class Observe:
    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        classify: Callable[[str], str],
        render_error: Callable[[str, str], Response],
    ) -> None:
        self.app = app
        self.classify = classify
        self.render_error = render_error
        self.metrics = settings.metrics_enabled
        self.log_requests = settings.logs_requests
        self.json = settings.log_format == "json"
        self.take_ids = settings.trust_proxy_headers
        self.proxies = [ipaddress.ip_network(n, strict=False) for n in settings.trusted_proxies]

    def _given_id(self, scope: Scope) -> str | None:
        """A valid `X-Request-ID` from a trusted proxy."""
        if self.proxies:
            peer = scope.get("client")
            try:
                address = ipaddress.ip_address(peer[0]) if peer else None
            except ValueError:
                return None
            if address is None or not any(address in n for n in self.proxies):
                return None
        for name, value in scope["headers"]:
            if name == _HEADER:
                text = value.decode("latin-1")
                return text if _VALID_ID.fullmatch(text) else None
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = (self.take_ids and self._given_id(scope)) or _ids.new()
        info = RequestInfo(rid)
        scope[KEY] = info
        token = REQUEST_ID.set(rid)
        id_header = (_HEADER, rid.encode())
        status = 0
        sent = 0
        received = 0
        start_headers: list[tuple[bytes, bytes]] = []
        counting = self.metrics or self.log_requests

        async def observed_send(message: Message) -> None:
            nonlocal status, sent, start_headers
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                start_headers = [*message.get("headers", ()), id_header]
                message["headers"] = start_headers
            elif kind == "http.response.body":
                sent += len(message.get("body", b""))
            elif kind == "http.response.pathsend":  # a file, zero-copy: its length was sent
                sent += _content_length(start_headers)
            await send(message)

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        if self.metrics:
            metrics.PROCESS.in_flight += 1
        try:
            await self.app(scope, counted_receive if counting else receive, observed_send)
        except Exception as exc:
            error_log.error(
                "unhandled error on %s %s (request %s)",
                escape_field(scope["method"]),
                escape_field(scope["path"]),
                rid,
                exc_info=exc,
            )
            if not status:  # nothing was sent yet: the surface's 500, with the id
                response = self.render_error(scope["path"], rid)
                if scope["method"] == "HEAD":  # the status and headers, never a body
                    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
                    response = Response(status_code=response.status_code, headers=headers)
                try:
                    await response(scope, receive, observed_send)
                except Exception:
                    error_log.debug("the error response could not be sent", exc_info=True)
        finally:
            seconds = time.perf_counter() - started
            status = status or 499  # the client left before any response
            route = info.route or self.classify(scope["path"])
            if self.metrics:
                metrics.PROCESS.in_flight -= 1
                metrics.observe_request(
                    route, metrics.method_label(scope["method"]), status, seconds, received, sent
                )
            if self.log_requests:
                self._log(scope, info, route, status, seconds, received, sent)
            REQUEST_ID.reset(token)

    def _log(
        self,
        scope: Scope,
        info: RequestInfo,
        route: str,
        status: int,
        seconds: float,
        received: int,
        sent: int,
    ) -> None:
        client = info.client or scope.get("client")
        address = client[0] if client else None
        who, subject = describe_principal(info.principal)
        if self.json:
            fields = {
                "request_id": info.id,
                "method": scope["method"],
                "route": route,
                "path": scope["path"],
                "package": info.package,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "received_bytes": received,
                "sent_bytes": sent,
                "principal": who,
                "principal_id": subject,
                "client": address,
                "http_version": scope.get("http_version"),
            }
            access_log.info(
                "%s %s %d", scope["method"], scope["path"], status, extra={"access": fields}
            )
            return
        access_log.info(
            '[%s] %s - "%s %s HTTP/%s" %d %.3f id=%s route=%s package=%s principal="%s"'
            " received=%d sent=%d",
            time.strftime("%Y-%m-%d %H:%M:%S %z"),
            address or "-",
            escape_field(scope["method"]),
            escape_field(scope["path"]),
            scope.get("http_version", "1.1"),
            status,
            seconds * 1000,
            info.id,
            route,
            escape_field(info.package or "-"),
            escape_field(f"{who} ({subject})" if subject else "-"),
            received,
            sent,
        )


def _content_length(headers: list[tuple[bytes, bytes]]) -> int:
    for name, value in headers:
        if name.lower() == b"content-length" and value.isdigit():
            return int(value)
    return 0


# --------------------------------------------------------------------------- /metrics


def bearer_matches(request: Request, token: str) -> bool:
    """The request's `Authorization: Bearer` is `token` (compared in constant time)."""
    kind, _, value = request.headers.get("authorization", "").partition(" ")
    return kind.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def metrics_route(ctx: Context) -> Route:
    """`/metrics` on the registry's own listener, for `metrics_token` alone: 401 without
    it. The same metrics as the metrics server's (web/exposition.py), this worker's
    tallies flushed first."""
    settings = ctx.settings
    token = settings.metrics_token
    assert token is not None
    totals = exposition.Totals(settings.upload_idle_expiry)
    found = exposition.registry(
        exposition.build_info(settings.storage, settings.database_url), totals
    )

    async def serve_metrics(request: Request) -> Response:
        if not bearer_matches(request, token):
            return PlainTextResponse(
                "/metrics needs Authorization: Bearer with the metrics token\n",
                401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        metrics.flush()
        await totals.refresh(ctx.db)
        return Response(exposition.render(found), media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", serve_metrics, methods=["GET"])
