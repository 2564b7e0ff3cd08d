"""The ASGI application: `create_app(settings)`, and `app_factory()` for the server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cargohold.config import Settings, load_settings
from cargohold.services.context import Context, open_context
from cargohold.services.lifecycle import gc
from cargohold.services.registry import uploads
from cargohold.web import health, token
from cargohold.web.api.app import create_api
from cargohold.web.proxy import ProxyHeaders
from cargohold.web.registry import errors, routes
from cargohold.web.ui.app import UiMount

log = logging.getLogger("cargohold")

_V2 = "/v2"
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


def create_app(settings: Settings, context: Context | None = None) -> Starlette:
    ctx = context or open_context(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(_sweep_uploads(ctx))]
        if ctx.settings.gc_enabled:
            tasks.append(asyncio.create_task(_collect_garbage(ctx)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await ctx.close()

    app = Starlette(
        routes=[
            Route("/token", token.token, methods=["GET", "POST"]),
            Route("/healthz", health.healthz, methods=["GET", "HEAD"]),
            Route("/readyz", health.readyz, methods=["GET", "HEAD"]),
            Route("/v2/", routes.base, methods=_METHODS),
            Route("/v2", routes.base, methods=_METHODS),
            Route("/v2/{path:path}", routes.dispatch, methods=_METHODS),
            Mount("/api/v1", app=create_api(ctx)),
            UiMount(ctx),
        ],
        exception_handlers=errors.HANDLERS,
        lifespan=lifespan,
    )
    app.state.context = ctx
    app.add_middleware(ApiVersionHeader)
    if settings.trust_proxy_headers:
        app.add_middleware(ProxyHeaders, trusted=settings.trusted_proxies)
    return app


def app_factory() -> Starlette:
    """Entry point for the server process; settings come from the environment."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return create_app(load_settings())
