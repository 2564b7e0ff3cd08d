"""Behind a reverse proxy: take the scheme, host and client address the proxy saw.

Installed only with `trust_proxy_headers`: otherwise any client could claim any host
and address. The proxy must set `X-Forwarded-Proto` and `X-Forwarded-Host` itself,
overwriting what the client sent, and append the address it saw to `X-Forwarded-For`.

The client is the nearest address in `X-Forwarded-For` that is not a trusted proxy:
the list is walked from the right (the entry the last proxy appended), skipping the
`trusted_proxies`. Entries further left were written by the client, or by proxies
beyond ours, and count only when every proxy between is trusted. With
`trusted_proxies` set, forwarded headers count only on connections from one of them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAMES = (b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-for")


def _first(value: str) -> str:
    return value.split(",")[0].strip()


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class ProxyHeaders:
    def __init__(self, app: ASGIApp, trusted: Iterable[str] = ()) -> None:
        self.app = app
        self.trusted: list[Network] = [ipaddress.ip_network(n, strict=False) for n in trusted]

    def is_trusted(self, address: Address | None) -> bool:
        return address is not None and any(address in network for network in self.trusted)

    def client(self, forwarded_for: str) -> str | None:
        """The nearest address of the chain that is not a trusted proxy; None when that entry
        is not an address at all (the request keeps the connection's address then)."""
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                return None
            if not self.is_trusted(address):
                return str(address)
        return str(_address(hops[0])) if hops else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        forwarded: dict[bytes, list[str]] = {}
        for name, value in scope["headers"]:
            if name in _NAMES:
                forwarded.setdefault(name, []).append(value.decode("latin-1"))
        peer = scope.get("client")
        if not forwarded or (self.trusted and not (peer and self.is_trusted(_address(peer[0])))):
            await self.app(scope, receive, send)
            return
        scope = dict(scope)
        proto = _first(forwarded.get(b"x-forwarded-proto", [""])[0]).lower()
        if proto in ("http", "https"):
            scope["scheme"] = proto if scope["type"] == "http" else proto.replace("http", "ws")
        host = _first(forwarded.get(b"x-forwarded-host", [""])[0])
        if host:
            headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
            scope["headers"] = [(b"host", host.encode("latin-1")), *headers]
        chain = forwarded.get(b"x-forwarded-for")
        client = self.client(",".join(chain)) if chain else None
        if client:
            scope["client"] = (client, 0)
        await self.app(scope, receive, send)
