"""The ASGI application: `create_app(settings)`, and `app_factory()` for the server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route, request_response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cargohold import metrics
from cargohold.config import Settings, load_settings
from cargohold.oci.errors import SizeInvalid
from cargohold.services.context import Context, open_context
from cargohold.services.events import downloads
from cargohold.services.events.webhooks import delivery
from cargohold.services.lifecycle import gc
from cargohold.services.registry import uploads
from cargohold.services.registry.checked import webhooks
from cargohold.services.registry.replication.replicator import Replicator
from cargohold.services.registry.replication.rules import sealing_key
from cargohold.web import health, observe, token
from cargohold.web.actors import RequestActor
from cargohold.web.api.problem_json import internal_problem, problem
from cargohold.web.lazy import LazyApp
from cargohold.web.proxy import ProxyHeaders
from cargohold.web.registry import errors, routes
from cargohold.web.ui.mount import PREFIXES as UI_PREFIXES
from cargohold.web.ui.mount import UiMount

log = logging.getLogger("cargohold")

_V2 = "/v2"
_API = "/api/v1"
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]
_API_VERSION = [(b"docker-distribution-api-version", b"registry/2.0")]


class ApiVersionHeader:
    """Adds `Docker-Distribution-API-Version` to every /v2 response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(_V2):
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k == _API_VERSION[0][0] for k, _ in headers):
                    headers += _API_VERSION
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_header)


class BodyTooLarge(HTTPException):
    """A request body over its limit. An HTTPException, so that every surface renders it
    in its own format (the API as problem JSON, the UI as a page): see `BodyLimit`."""

    def __init__(self, limit: int, kind: str | None = None) -> None:
        what = "manifest" if kind == "manifest" else "request body"
        super().__init__(413, f"the {what} is larger than this endpoint's limit of {limit} bytes")
        self.limit = limit


def _too_large(path: str, exc: BodyTooLarge) -> Response | None:
    """The 413 of the surface that `path` belongs to; None for the UI, which renders it
    itself (as a page in the reader's language)."""
    if path == "/token":
        return token.body_too_large(exc.limit)
    if path == _V2 or path.startswith(_V2 + "/"):
        return errors.render(SizeInvalid(exc.detail, status=413, detail={"limit": exc.limit}))
    if path == _API or path.startswith(_API + "/"):
        return problem(413, exc.detail)
    return None


async def _body_too_large(request: Request, exc: Exception) -> Response:
    """A body found too large while it streamed, on /v2 or /token (the API and the UI
    render the HTTPException themselves)."""
    assert isinstance(exc, BodyTooLarge)
    return _too_large(request.url.path, exc) or errors.render(
        SizeInvalid(exc.detail, status=413, detail={"limit": exc.limit})
    )


class BodyLimit:
    """Bounds every request body that is not a blob upload, before any route runs:
    `max_form_size` for /token, the UI and everything else, `max_api_body_size` for
    /api/v1, `max_manifest_size` for a manifest PUT. A declared `Content-Length` over the
    limit is answered 413 at once, without reading the body or authenticating (the UI
    gets its page from its own error handler); a body without one (chunked) is counted
    while it streams, and the read that passes the limit raises `BodyTooLarge`."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def limit(self, method: str, path: str) -> tuple[int | None, str | None]:
        """The limit of a request's body (None: unbounded) and what the body is."""
        settings = self.settings
        if path.startswith(_V2 + "/"):
            kind = None if method in ("GET", "HEAD") else routes.body_kind(method, path[4:])
            if kind == "upload":
                return None, kind
            if kind == "manifest":
                return settings.max_manifest_size, kind
        elif path == _API or path.startswith(_API + "/"):
            return settings.max_api_body_size, None
        return settings.max_form_size, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, kind = self.limit(scope["method"], scope["path"])
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        digits = declared.isascii() and declared.isdigit()
        over = digits and (len(declared) > 19 or int(declared) > limit)
        if over:
            response = _too_large(scope["path"], BodyTooLarge(limit, kind))
            if response is not None:
                await response(scope, receive, send)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            if over:
                raise BodyTooLarge(limit, kind)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, kind)
            return message

        await self.app(scope, counted, send)


def _route_family(path: str) -> str:
    """The route family (a metrics label) of a request no /v2 route noted: see
    web/observe.py and docs/operations.md."""
    if path.startswith(_V2):
        return "v2_base" if path in (_V2, _V2 + "/") else "v2_other"
    if path == "/token":
        return "token"
    if path == _API or path.startswith(_API + "/"):
        return "api"
    if path in ("/healthz", "/readyz"):
        return "health"
    if path == "/metrics":
        return "metrics"
    if path.startswith("/static/"):
        return "ui_static"
    if path == "/" or path.startswith(UI_PREFIXES):
        return "ui"
    return "other"


def _internal_error(path: str, request_id: str) -> Response:
    """The 500 of the surface `path` belongs to, for an error no handler rendered (web/
    observe.py logged it, with this request id)."""
    if path == "/token" or path == _V2 or path.startswith(_V2 + "/"):
        return errors.internal_error(request_id)
    if path == _API or path.startswith(_API + "/"):
        return internal_problem(request_id)
    return PlainTextResponse(f"Internal Server Error (request ID {request_id})\n", 500)


async def _sweep_uploads(ctx: Context) -> None:
    while True:
        await asyncio.sleep(ctx.settings.upload_sweep_interval)
        try:
            removed = await uploads.sweep_expired_uploads(ctx)
            if removed:
                log.info("removed %d expired upload sessions", removed)
        except Exception:
            log.exception("sweeping expired uploads failed")


async def _collect_garbage(ctx: Context) -> None:
    """Every `gc_interval` (with some jitter, so nodes do not all try at once) one node of
    the cluster, whichever takes the lease, collects garbage."""
    while True:
        interval = ctx.settings.gc_interval
        await asyncio.sleep(interval + random.uniform(0, interval / 10))
        try:
            report = await gc.collect(ctx)
            log.info(
                "garbage collection: %d manifests, %d blobs, %d leftovers; %d bytes freed in"
                " %.1f s",
                report.manifests,
                report.blobs,
                report.orphans + report.uploads,
                report.freed_bytes,
                report.seconds,
            )
        except gc.Busy as exc:
            log.debug("%s", exc)
        except Exception:
            log.exception("garbage collection failed")


async def _flush_downloads(ctx: Context) -> None:
    """Every `download_flush_interval` the pulls this process counted are written (the
    last ones by `Context.close` at shutdown): a pull itself never waits for a write."""
    while True:
        await asyncio.sleep(ctx.settings.download_flush_interval)
        try:
            await downloads.flush(ctx.db, ctx.downloads)
        except Exception:
            log.exception("writing download counts failed; they are kept for the next try")


async def _deliver_webhooks(ctx: Context) -> None:
    """Webhook delivery in this process: each endpoint's lease makes sure one process of the
    cluster at a time sends to it (services/events/webhooks/delivery.py)."""
    deliverer = delivery.Deliverer(ctx.db, ctx.settings, webhooks.sealing_key(ctx))
    await deliverer.run_forever()


async def _replicate(ctx: Context) -> None:
    """Push replication in this process: each rule's lease makes sure one process of the
    cluster at a time copies for it (services/registry/replication/replicator.py)."""
    replicator = Replicator(ctx.db, ctx.storage, ctx.settings, sealing_key(ctx))
    await replicator.run_forever()


def create_app(settings: Settings, context: Context | None = None) -> Starlette:
    ctx = context or open_context(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(_sweep_uploads(ctx))]
        tasks.append(asyncio.create_task(_deliver_webhooks(ctx)))
        tasks.append(asyncio.create_task(_replicate(ctx)))
        tasks.append(asyncio.create_task(_flush_downloads(ctx)))
        if ctx.settings.gc_enabled:
            tasks.append(asyncio.create_task(_collect_garbage(ctx)))
        if ctx.settings.metrics_enabled:
            tasks.append(asyncio.create_task(metrics.flush_every()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            if ctx.settings.metrics_enabled:
                metrics.flush()  # what this worker counted last
            await ctx.close()

    app = Starlette(
        routes=[
            Route("/token", RequestActor(request_response(token.token)), methods=["GET", "POST"]),
            Route("/healthz", health.healthz, methods=["GET", "HEAD"]),
            Route("/readyz", health.readyz, methods=["GET", "HEAD"]),
            *([observe.metrics_route(ctx)] if settings.metrics_token else []),
            Route("/v2/", routes.base, methods=_METHODS),
            Route("/v2", routes.base, methods=_METHODS),
            Route("/v2/{path:path}", routes.dispatch, methods=_METHODS),
            Mount("/api/v1", app=RequestActor(LazyApp("cargohold.web.api.app:create_api", ctx))),
            UiMount(ctx),
        ],
        exception_handlers={**errors.HANDLERS, BodyTooLarge: _body_too_large},
        lifespan=lifespan,
    )
    app.state.context = ctx
    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(ApiVersionHeader)
    if settings.trust_proxy_headers:
        app.add_middleware(observe.NoteClient)
        app.add_middleware(ProxyHeaders, trusted=settings.trusted_proxies)
    app.add_middleware(
        observe.Observe, settings=settings, classify=_route_family, render_error=_internal_error
    )
    return app


def app_factory() -> Starlette:
    """Entry point for the server process; settings come from the environment."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return create_app(load_settings())
