"""Behind a reverse proxy: take the scheme, host and client address the proxy saw.

Installed only with `trust_proxy_headers`: otherwise any client could claim any host
(and so steer the URLs the registry builds, such as the token realm). The proxy must set
these headers itself, overwriting what the client sent:
`X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Forwarded-For`.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


def _first(value: bytes) -> str:
    return value.decode("latin-1").split(",")[0].strip()


class ProxyHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        forwarded = {
            name: _first(value)
            for name, value in scope["headers"]
            if name in (b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-for")
        }
        if not forwarded:
            await self.app(scope, receive, send)
            return
        scope = dict(scope)
        proto = forwarded.get(b"x-forwarded-proto", "").lower()
        if proto in ("http", "https"):
            scope["scheme"] = proto if scope["type"] == "http" else proto.replace("http", "ws")
        host = forwarded.get(b"x-forwarded-host")
        if host:
            headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
            scope["headers"] = [(b"host", host.encode("latin-1")), *headers]
        client = forwarded.get(b"x-forwarded-for")
        if client:
            scope["client"] = (client, 0)
        await self.app(scope, receive, send)
