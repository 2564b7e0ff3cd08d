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


def client(trusted: bool, proxies: tuple[str, ...] = ()) -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/where", echo)])
    if trusted:
        app.add_middleware(ProxyHeaders, trusted=proxies)
    transport = httpx.ASGITransport(app=app, client=("10.0.0.9", 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://node1:5000")


FORWARDED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "registry.example.com",
    "X-Forwarded-For": "203.0.113.7",
}


async def where(proxies: tuple[str, ...], forwarded_for: str) -> str:
    async with client(trusted=True, proxies=proxies) as trusted:
        answer = await trusted.get("/where", headers={"X-Forwarded-For": forwarded_for})
    return str(answer.json()["client"])


async def test_forwarded_headers_count_only_when_trusted() -> None:
    async with client(trusted=True) as trusted, client(trusted=False) as untrusted:
        behind = (await trusted.get("/where?x=1", headers=FORWARDED)).json()
        direct = (await trusted.get("/where")).json()
        ignored = (await untrusted.get("/where", headers=FORWARDED)).json()

    assert behind == {"url": "https://registry.example.com/where?x=1", "client": "203.0.113.7"}
    assert direct == {"url": "http://node1:5000/where", "client": "10.0.0.9"}
    assert ignored == {"url": "http://node1:5000/where", "client": "10.0.0.9"}


async def test_the_client_is_the_nearest_address_that_is_not_a_trusted_proxy() -> None:
    # The client wrote 198.51.100.1 itself; our proxies (10.x) appended the rest.
    chain = "198.51.100.1, 203.0.113.7, 10.0.0.2, 10.0.0.1"

    assert await where(("10.0.0.0/8",), chain) == "203.0.113.7"


async def test_without_trusted_proxies_the_address_the_proxy_appended_is_the_client() -> None:
    assert await where((), "198.51.100.1, 203.0.113.7") == "203.0.113.7"


async def test_a_chain_of_trusted_proxies_only_gives_its_first_address() -> None:
    assert await where(("10.0.0.0/8",), "10.0.0.3, 10.0.0.1") == "10.0.0.3"


async def test_a_hop_that_is_no_address_leaves_the_connections_address() -> None:
    assert await where(("10.0.0.0/8",), "203.0.113.7, unknown, 10.0.0.1") == "10.0.0.9"


async def test_ipv4_mapped_addresses_match_ipv4_proxies() -> None:
    assert await where(("10.0.0.0/8",), "203.0.113.7, ::ffff:10.0.0.1") == "203.0.113.7"


async def test_forwarded_headers_from_a_peer_that_is_no_trusted_proxy_are_ignored() -> None:
    async with client(trusted=True, proxies=("192.0.2.0/24",)) as trusted:
        answer = (await trusted.get("/where", headers=FORWARDED)).json()

    assert answer == {"url": "http://node1:5000/where", "client": "10.0.0.9"}


async def test_nonsense_proto_is_ignored() -> None:
    async with client(trusted=True) as trusted:
        answer = (await trusted.get("/where", headers={"X-Forwarded-Proto": "gopher"})).json()
    assert answer["url"] == "http://node1:5000/where"
