"""Outbound HTTP to addresses that people type: webhook targets now, mirror upstreams and
OpenID issuers later. One guard for all of them (DESIGN.md, "Outbound requests are
guarded"), so that a URL can never make the registry reach into its own network:

- the host is resolved once, and every address it resolves to must be public: loopback,
  private, link-local, shared (CGNAT), multicast, unspecified, reserved and cloud metadata
  addresses are refused, unless the policy's `allowed_networks` hold them (metadata
  addresses only when an allowed network names exactly them);
- the request goes to the address that was checked (no second lookup that DNS could answer
  differently), with the name kept for TLS (SNI and certificate) and the `Host` header;
- plain `http` goes only to allowed networks, unless the policy allows it everywhere;
- redirects are never followed, proxies from the environment never used, and the lookup,
  the connection, each read and the whole exchange are bounded in time, the answer in size;
- URLs are shown only through `redact`: no user information, no query values.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:  # imported where a request is made: most processes never make one
    import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Addresses of cloud instance metadata services: they hand out credentials to whoever asks
# from inside, so they stay refused even inside a broad allowed network.
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, ...
        "169.254.169.253",  # AWS DNS
        "169.254.170.2",  # AWS ECS task credentials
        "169.254.170.23",  # AWS EKS pod identity
        "fd00:ec2::254",  # AWS over IPv6
        "fd00:ec2::23",  # AWS EKS pod identity over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server
        "192.0.0.192",  # Oracle Cloud (legacy)
    )
)


def _nets(*texts: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(t) for t in texts)


# Why an address is refused, first match wins; anything else that is not global unicast
# (Python's `is_global`) is "reserved".
REFUSED_NETWORKS: tuple[tuple[str, tuple[Network, ...]], ...] = (
    ("unspecified", _nets("0.0.0.0/8", "::/128")),
    ("loopback", _nets("127.0.0.0/8", "::1/128")),
    ("private", _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    ("link-local", _nets("169.254.0.0/16", "fe80::/10")),
    ("shared (CGNAT)", _nets("100.64.0.0/10")),
    ("multicast", _nets("224.0.0.0/4", "ff00::/8")),
    ("broadcast", _nets("255.255.255.255/32")),
)

DEFAULT_PORTS = {"http": 80, "https": 443}


class OutboundError(Exception):
    """An outbound request that did not get an answer; `message` never holds a secret."""

    kind: str = "error"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class Refused(OutboundError):
    """The guard refused the URL or the address it resolves to: nothing was sent."""

    kind = "refused"


class Unreachable(OutboundError):
    """The name did not resolve, or the connection failed or broke."""

    kind = "connection"


class TimedOut(OutboundError):
    kind = "timeout"


class TooLarge(OutboundError):
    kind = "too_large"


@dataclass(frozen=True, slots=True)
class Policy:
    """What one kind of outbound request may reach, and how long and how much it may take."""

    allowed_networks: tuple[Network, ...] = ()
    allow_http: bool = False  # plain http beyond the allowed networks too
    resolve_timeout: float = 3.0
    connect_timeout: float = 3.0
    read_timeout: float = 5.0
    total_timeout: float = 10.0  # the lookup, the connection, the request and the answer
    max_response_bytes: int = 64 * 1024
    overflow: Literal["error", "truncate"] = "error"  # an answer beyond max_response_bytes
    verify: ssl.SSLContext | bool = True  # the system's CAs; a context for a private CA


@dataclass(frozen=True, slots=True)
class Target:
    """A URL as the guard read it."""

    scheme: str
    host: str  # a name, or an address without brackets
    port: int
    url: httpx.URL

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: httpx.Headers
    body: bytes
    truncated: bool
    address: str  # the address the request went to
    seconds: float


def parse_networks(items: Iterable[str] | str) -> tuple[Network, ...]:
    """CIDRs or addresses, as a list or one comma-separated string (ValueError naming a bad
    one)."""
    if isinstance(items, str):
        items = items.split(",")
    networks = []
    for item in items:
        text = item.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"{text[:60]!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def _embedded(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_HOSTNAME = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*")


def classify(address: Address) -> str | None:
    """Why the guard refuses `address` by default (`loopback`, `cloud metadata`, ...);
    None for a public unicast address."""
    inner = _embedded(address)
    if inner is not None:
        reason = classify(inner)
        return reason if reason is None else f"{reason} (inside an IPv6 address)"
    if address in METADATA:
        return "cloud metadata"
    for reason, networks in REFUSED_NETWORKS:
        if any(address in network for network in networks):
            return reason
    return None if address.is_global else "reserved"


def _within(address: Address, networks: Sequence[Network]) -> list[Network]:
    return [n for n in networks if n.version == address.version and address in n]


def allowed(address: Address, policy: Policy) -> bool:
    """Whether the policy's allowed networks let `address` through the guard. A metadata
    address needs an allowed network that is that address alone."""
    inner = _embedded(address) or address
    found = _within(address, policy.allowed_networks) + _within(inner, policy.allowed_networks)
    if not found:
        return False
    if inner in METADATA:
        return any(n.num_addresses == 1 for n in found)
    return True


def check_address(address: Address, policy: Policy) -> None:
    """Refused unless `address` is public or inside an allowed network."""
    if allowed(address, policy):
        return
    reason = classify(address)
    if reason is not None:
        raise Refused(f"{address} is a {reason} address, which outbound requests may not reach")


def parse_target(url: str, *, schemes: Sequence[str] = ("https", "http")) -> Target:
    """The scheme, host and port of an absolute URL (Refused when it is not one)."""
    import httpx

    try:
        parsed = httpx.URL(url)
        port = parsed.port
    except (httpx.InvalidURL, ValueError, TypeError):
        raise Refused("not a valid URL") from None
    if port is not None and not 0 < port < 65536:
        raise Refused("not a valid URL")
    scheme = parsed.scheme
    if scheme not in schemes or scheme not in DEFAULT_PORTS:
        raise Refused(f"the URL must start with {' or '.join(f'{s}://' for s in schemes)}")
    host = parsed.raw_host.decode("ascii").rstrip(".").lower()
    if not host:
        raise Refused("the URL has no host")
    if "%" in host and _literal(host.partition("%")[0]) is not None:
        raise Refused("the URL may not name a network interface")
    if _literal(host) is None and not _HOSTNAME.fullmatch(host):
        raise Refused("not a valid URL")
    if parsed.fragment:
        raise Refused("the URL may not have a #fragment")
    return Target(scheme, host, port or DEFAULT_PORTS[scheme], parsed)


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def resolve(host: str, port: int, *, timeout: float) -> list[Address]:
    """Every address `host` resolves to (once); Unreachable when it resolves to none."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise TimedOut(f"looking up {host[:100]} took more than {timeout:g} s") from None
    except (OSError, UnicodeError):
        raise Unreachable(f"{host[:100]} does not resolve") from None
    found: list[Address] = []
    for _, _, _, _, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if address not in found:
            found.append(address)
    if not found:
        raise Unreachable(f"{host[:100]} does not resolve")
    return found


async def check(url: str, policy: Policy) -> tuple[Target, Address]:
    """Resolve the URL's host and check it against the policy: the target and the one
    address to connect to. Refused if any address it resolves to is refused (a name that
    answers both public and private addresses is refused), and for plain http outside the
    allowed networks."""
    target = parse_target(url)
    addresses = await resolve(target.host, target.port, timeout=policy.resolve_timeout)
    for address in addresses:
        check_address(address, policy)
    plain = target.scheme == "http" and not policy.allow_http
    if plain and not all(allowed(address, policy) for address in addresses):
        raise Refused("plain http:// goes only to allowed networks; use https://")
    return target, addresses[0]


async def request(
    method: str,
    url: str,
    *,
    policy: Policy,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
) -> Reply:
    """Send one request through the guard and read the answer (at most
    `policy.max_response_bytes` of its body). Raises Refused before anything is sent,
    TimedOut, Unreachable or TooLarge; any HTTP status is a Reply, a redirect included
    (never followed)."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(policy.total_timeout):
            target, address = await check(url, policy)
            return await _send(method, target, address, policy, headers, content, started)
    except TimeoutError:
        raise TimedOut(f"no answer within {policy.total_timeout:g} s") from None


async def _send(
    method: str,
    target: Target,
    address: Address,
    policy: Policy,
    headers: Mapping[str, str] | None,
    content: bytes | None,
    started: float,
) -> Reply:
    import httpx

    timeout = httpx.Timeout(
        connect=policy.connect_timeout,
        read=policy.read_timeout,
        write=policy.read_timeout,
        pool=policy.connect_timeout,
    )
    sent_headers = {**(headers or {}), "Host": target.host_header, "Accept-Encoding": "identity"}
    extensions = {}
    if target.scheme == "https" and _literal(target.host) is None:
        extensions["sni_hostname"] = target.host  # TLS checks the certificate for the name
    # One connection per request: a pooled connection to the same address may have been
    # made (and its certificate checked) for another name.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=0)
    async with httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        limits=limits,
        verify=policy.verify,
    ) as client:
        outgoing = client.build_request(
            method,
            target.url.copy_with(host=str(address)),
            headers=sent_headers,
            content=content,
            extensions=extensions,
        )
        try:
            response = await client.send(outgoing, stream=True)
        except httpx.TimeoutException:
            raise TimedOut(f"{_label(target)} did not answer in time") from None
        except (httpx.TransportError, OSError) as exc:
            raise Unreachable(f"{_label(target)}: {_reason(exc)}") from None
        try:
            body, truncated = await _read(response, policy, target)
        finally:
            await response.aclose()
    return Reply(
        status=response.status_code,
        headers=response.headers,
        body=body,
        truncated=truncated,
        address=str(address),
        seconds=time.monotonic() - started,
    )


class Streamed:
    """An answer whose body is read as it arrives (`stream`): status and headers now, the
    body through `chunks` (bounded by the policy's size, each read by its read timeout, the
    whole exchange by its total timeout)."""

    def __init__(
        self, response: httpx.Response, policy: Policy, target: Target, address: str, end: float
    ) -> None:
        self.status = response.status_code
        self.headers = response.headers
        self.address = address
        self._response = response
        self._policy = policy
        self._target = target
        self._end = end

    async def chunks(self) -> AsyncIterator[bytes]:
        import httpx

        limit, seen = self._policy.max_response_bytes, 0
        try:
            async with asyncio.timeout_at(self._end):
                async for chunk in self._response.aiter_raw():
                    seen += len(chunk)
                    if seen > limit:
                        raise TooLarge(f"the answer is larger than {limit} bytes")
                    yield chunk
        except TimeoutError:
            total = self._policy.total_timeout
            raise TimedOut(f"{_label(self._target)} took more than {total:g} s") from None
        except httpx.TimeoutException:
            raise TimedOut(f"{_label(self._target)} stopped sending its answer") from None
        except httpx.TransportError as exc:
            raise Unreachable(f"{_label(self._target)}: {_reason(exc)}") from None

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])


@asynccontextmanager
async def stream(
    method: str,
    url: str,
    *,
    policy: Policy,
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[Streamed]:
    """Send one request through the guard (as `request` does) and hand its answer over
    before its body is read: for bodies too large to hold in memory (a mirror's blobs).
    The connection closes when the block ends."""
    import httpx

    loop = asyncio.get_running_loop()
    end = loop.time() + policy.total_timeout
    try:
        async with asyncio.timeout_at(end):
            target, address = await check(url, policy)
    except TimeoutError:
        raise TimedOut(f"no answer within {policy.total_timeout:g} s") from None
    timeout = httpx.Timeout(
        connect=policy.connect_timeout,
        read=policy.read_timeout,
        write=policy.read_timeout,
        pool=policy.connect_timeout,
    )
    sent_headers = {**(headers or {}), "Host": target.host_header, "Accept-Encoding": "identity"}
    extensions = {}
    if target.scheme == "https" and _literal(target.host) is None:
        extensions["sni_hostname"] = target.host
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=0)
    async with httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        limits=limits,
        verify=policy.verify,
    ) as client:
        outgoing = client.build_request(
            method,
            target.url.copy_with(host=str(address)),
            headers=sent_headers,
            extensions=extensions,
        )
        try:
            async with asyncio.timeout_at(end):
                response = await client.send(outgoing, stream=True)
        except (TimeoutError, httpx.TimeoutException):
            raise TimedOut(f"{_label(target)} did not answer in time") from None
        except (httpx.TransportError, OSError) as exc:
            raise Unreachable(f"{_label(target)}: {_reason(exc)}") from None
        try:
            yield Streamed(response, policy, target, str(address), end)
        finally:
            await response.aclose()


async def _read(response: httpx.Response, policy: Policy, target: Target) -> tuple[bytes, bool]:
    import httpx

    limit = policy.max_response_bytes
    body = bytearray()
    try:
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > limit:
                if policy.overflow == "error":
                    raise TooLarge(f"the answer is larger than {limit} bytes")
                return bytes(body[:limit]), True
    except httpx.TimeoutException:
        raise TimedOut(f"{_label(target)} stopped sending its answer") from None
    except httpx.TransportError as exc:
        raise Unreachable(f"{_label(target)}: {_reason(exc)}") from None
    return bytes(body), False


def _label(target: Target) -> str:
    return target.host_header[:120]


def _reason(exc: BaseException) -> str:
    """What went wrong, in words that hold no URL."""
    import httpx

    if isinstance(exc, httpx.ConnectError):
        causes = list(_causes(exc))
        if any(isinstance(c, ssl.SSLCertVerificationError) for c in causes):
            return "the TLS certificate is not valid for this name"
        if any(isinstance(c, ConnectionRefusedError) for c in causes):
            return "connection refused"
        if any(isinstance(c, ssl.SSLError) for c in causes):
            return "the TLS handshake failed"
        return "could not connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server broke the HTTP exchange"
    return "the connection failed"


def _causes(exc: BaseException) -> Iterable[BaseException]:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


_REDACTED = "REDACTED"


def redact(url: str) -> str:
    """The URL for logs and pages: user information and every query value replaced."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{_REDACTED}@{netloc.rpartition('@')[2]}"
        query = "&".join(
            f"{pair.partition('=')[0]}={_REDACTED}" if "=" in pair else _REDACTED
            for pair in parts.query.split("&")
            if pair
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return "(an invalid URL)"
