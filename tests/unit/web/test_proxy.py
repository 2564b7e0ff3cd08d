"""Behind a trusted proxy, the request is what the proxy saw."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cargohold.web.proxy import ProxyHeaders


async def echo(request: Request) -> JSONResponse:
    client = request.client.host if request.client else None
    return JSONResponse({"url": str(request.url), "client": client})


def client(trusted: bool) -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/where", echo)])
    if trusted:
        app.add_middleware(ProxyHeaders)
    transport = httpx.ASGITransport(app=app, client=("10.0.0.9", 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://node1:5000")


FORWARDED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "registry.example.com",
    "X-Forwarded-For": "203.0.113.7, 10.0.0.1",
}


async def test_forwarded_headers_count_only_when_trusted() -> None:
    async with client(trusted=True) as trusted, client(trusted=False) as untrusted:
        behind = (await trusted.get("/where?x=1", headers=FORWARDED)).json()
        direct = (await trusted.get("/where")).json()
        ignored = (await untrusted.get("/where", headers=FORWARDED)).json()

    assert behind == {"url": "https://registry.example.com/where?x=1", "client": "203.0.113.7"}
    assert direct == {"url": "http://node1:5000/where", "client": "10.0.0.9"}
    assert ignored == {"url": "http://node1:5000/where", "client": "10.0.0.9"}


async def test_nonsense_proto_is_ignored() -> None:
    async with client(trusted=True) as trusted:
        answer = (await trusted.get("/where", headers={"X-Forwarded-Proto": "gopher"})).json()
    assert answer["url"] == "http://node1:5000/where"
