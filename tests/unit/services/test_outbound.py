"""The outbound guard (services/outbound.py): which addresses a typed URL may reach, and how
a request through it behaves. Servers here listen on 127.0.0.1 only, started and stopped by
each test."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cargohold.services import outbound
from cargohold.services.outbound import Policy, Refused, TimedOut, TooLarge, Unreachable

LOOPBACK = Policy(allowed_networks=outbound.parse_networks("127.0.0.0/8"))


# --------------------------------------------------------------------------- addresses

CLASSIFIED = [
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("fd12:3456::1", "private"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("100.64.0.1", "shared (CGNAT)"),
    ("100.127.255.254", "shared (CGNAT)"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.170.2", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("168.63.129.16", "cloud metadata"),
    ("192.0.2.1", "reserved"),  # documentation
    ("198.18.0.1", "reserved"),  # benchmarking
    ("240.0.0.1", "reserved"),
    ("2001:db8::1", "reserved"),
    ("::ffff:127.0.0.1", "loopback (inside an IPv6 address)"),
    ("::ffff:169.254.169.254", "cloud metadata (inside an IPv6 address)"),
    ("2002:a00:1::", "private (inside an IPv6 address)"),  # 6to4 of 10.0.0.1
    ("64:ff9b::a9fe:a9fe", "cloud metadata (inside an IPv6 address)"),  # NAT64
    ("93.184.215.14", None),
    ("8.8.8.8", None),
    ("172.32.0.1", None),
    ("100.128.0.1", None),
    ("2606:4700::1111", None),
    ("::ffff:8.8.8.8", None),
]


@pytest.mark.parametrize(("address", "reason"), CLASSIFIED)
def test_each_address_is_refused_for_its_reason_or_public(address: str, reason: str | None) -> None:
    assert outbound.classify(ipaddress.ip_address(address)) == reason


ALLOWING = [
    # (allowed networks, address, let through)
    ("", "127.0.0.1", False),
    ("127.0.0.0/8", "127.0.0.1", True),
    ("127.0.0.0/8", "::ffff:127.0.0.1", True),
    ("127.0.0.0/8", "::1", False),
    ("10.0.0.0/8", "10.20.30.40", True),
    ("10.0.0.0/8", "192.168.1.1", False),
    ("10.0.0.0/8, 192.168.0.0/16", "192.168.1.1", True),
    ("fd00::/8", "fd12::1", True),
    ("169.254.0.0/16", "169.254.1.1", True),
    # A metadata address is let through only by a network that is that address alone.
    ("169.254.0.0/16", "169.254.169.254", False),
    ("0.0.0.0/0", "169.254.169.254", False),
    ("fd00::/8", "fd00:ec2::254", False),
    ("169.254.169.254/32", "169.254.169.254", True),
    ("169.254.169.254", "169.254.169.254", True),
    # Public addresses need no allowance.
    ("", "8.8.8.8", True),
]


@pytest.mark.parametrize(("networks", "address", "through"), ALLOWING)
def test_allowed_networks_let_their_addresses_through(
    networks: str, address: str, through: bool
) -> None:
    policy = Policy(allowed_networks=outbound.parse_networks(networks))
    if through:
        outbound.check_address(ipaddress.ip_address(address), policy)
    else:
        with pytest.raises(Refused):
            outbound.check_address(ipaddress.ip_address(address), policy)


@pytest.mark.parametrize("text", ["10.0.0.0/33", "localhost", "1.2.3", "10.0.0.0/8, nope"])
def test_a_network_that_is_not_one_is_named_in_the_error(text: str) -> None:
    with pytest.raises(ValueError, match="is not an IP address or CIDR network"):
        outbound.parse_networks(text)


# --------------------------------------------------------------------------- URLs

REFUSED_URLS = [
    ("ftp://example.com/", "must start with"),
    ("file:///etc/passwd", "must start with"),
    ("gopher://example.com/", "must start with"),
    ("example.com/hook", "must start with"),
    ("https:///hook", "no host"),
    ("https://example.com/hook#part", "fragment"),
    ("http://[fe80::1%25eth0]/", "network interface"),
    ("https://exa mple.com/", "not a valid URL"),
    ("http://example.com:99999/", "not a valid URL"),
]


@pytest.mark.parametrize(("url", "message"), REFUSED_URLS)
def test_a_url_that_is_not_plain_http_or_https_is_refused(url: str, message: str) -> None:
    with pytest.raises(Refused, match=message):
        outbound.parse_target(url)


TARGETS = [
    ("https://hooks.example.com/x", "hooks.example.com", 443, "hooks.example.com"),
    ("https://hooks.example.com:8443/x", "hooks.example.com", 8443, "hooks.example.com:8443"),
    ("http://HOOKS.Example.com./x", "hooks.example.com", 80, "hooks.example.com"),
    ("http://[::1]:8080/", "::1", 8080, "[::1]:8080"),
    ("https://bücher.example/", "xn--bcher-kva.example", 443, "xn--bcher-kva.example"),
]


@pytest.mark.parametrize(("url", "host", "port", "header"), TARGETS)
def test_a_target_keeps_its_name_for_tls_and_the_host_header(
    url: str, host: str, port: int, header: str
) -> None:
    target = outbound.parse_target(url)
    assert (target.host, target.port, target.host_header) == (host, port, header)


REDACTED = [
    ("https://hooks.example.com/a/b", "https://hooks.example.com/a/b"),
    ("https://user:s3cret@hooks.example.com/a", "https://REDACTED@hooks.example.com/a"),
    ("https://tok@hooks.example.com/a", "https://REDACTED@hooks.example.com/a"),
    ("https://h.example/a?token=abc&x=1", "https://h.example/a?token=REDACTED&x=REDACTED"),
    ("https://h.example/a?abc123", "https://h.example/a?REDACTED"),
    ("https://h.example/a#frag", "https://h.example/a"),
]


@pytest.mark.parametrize(("url", "shown"), REDACTED)
def test_urls_are_shown_without_user_information_or_query_values(url: str, shown: str) -> None:
    assert outbound.redact(url) == shown


# --------------------------------------------------------------------------- resolving

CHECKED = [
    # (URL, policy, refused with)
    ("https://127.0.0.1/", Policy(), "loopback"),
    ("https://localhost/", Policy(), "loopback"),
    ("https://169.254.169.254/latest/meta-data/", Policy(), "cloud metadata"),
    ("https://169.254.169.254/", LOOPBACK, "cloud metadata"),
    ("https://[::ffff:10.0.0.1]/", Policy(), "private"),
    ("https://2130706433/", Policy(), "loopback"),  # 127.0.0.1 as one number
    ("https://0x7f.1/", Policy(), "loopback"),
    ("http://8.8.8.8/", Policy(), "plain http"),
    ("http://127.0.0.1:1/", LOOPBACK, None),
    ("https://127.0.0.1:1/", LOOPBACK, None),
    ("http://8.8.8.8/", Policy(allow_http=True), None),
]


@pytest.mark.parametrize(("url", "policy", "refusal"), CHECKED)
async def test_a_url_is_checked_by_every_address_its_host_resolves_to(
    url: str, policy: Policy, refusal: str | None
) -> None:
    if refusal is None:
        await outbound.check(url, policy)
    else:
        with pytest.raises(Refused, match=refusal):
            await outbound.check(url, policy)


async def test_a_name_with_one_private_address_among_public_ones_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def resolve(host: str, port: int, *, timeout: float) -> list[outbound.Address]:
        return [ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("10.0.0.7")]

    monkeypatch.setattr(outbound, "resolve", resolve)
    with pytest.raises(Refused, match=r"10\.0\.0\.7 is a private address"):
        await outbound.check("https://mixed.example/", Policy())


async def test_a_name_that_does_not_resolve_is_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def getaddrinfo(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    with pytest.raises(Unreachable, match="does not resolve"):
        await outbound.check("https://nothing.invalid/", Policy())


async def test_a_lookup_that_takes_too_long_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    async def getaddrinfo(*args: object, **kwargs: object) -> list[object]:
        await asyncio.sleep(30)
        return []

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    with pytest.raises(TimedOut, match=r"looking up slow\.example"):
        await outbound.check("https://slow.example/", Policy(resolve_timeout=0.2))


# --------------------------------------------------------------------------- requests

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """A server on 127.0.0.1 for the test; its port."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 5)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    if length:
        await reader.readexactly(length)
    return lines[0], headers


def answering(status: str, body: bytes = b"", extra: str = "", seen: list | None = None) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line, headers = await _read_request(reader)
        if seen is not None:
            seen.append((request_line, headers))
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}"
            "Connection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    return handle


async def test_a_request_to_an_allowed_network_is_answered() -> None:
    seen: list = []
    async with serving(answering("200 OK", b"fine", seen=seen)) as port:
        reply = await outbound.request(
            "POST", f"http://127.0.0.1:{port}/hook?x=1", policy=LOOPBACK, content=b"{}"
        )
    assert (reply.status, reply.body, reply.truncated) == (200, b"fine", False)
    assert reply.address == "127.0.0.1"
    assert seen[0][0] == "POST /hook?x=1 HTTP/1.1"
    assert seen[0][1]["host"] == f"127.0.0.1:{port}"


async def test_nothing_is_sent_to_loopback_without_the_allowance() -> None:
    seen: list = []
    async with serving(answering("200 OK", seen=seen)) as port:
        with pytest.raises(Refused, match="loopback"):
            await outbound.request("POST", f"http://127.0.0.1:{port}/", policy=Policy())
    assert seen == []


async def test_a_redirect_is_answered_but_never_followed() -> None:
    followed: list = []
    async with serving(answering("200 OK", seen=followed)) as elsewhere:
        location = f"Location: http://127.0.0.1:{elsewhere}/next\r\n"
        async with serving(answering("302 Found", extra=location)) as port:
            reply = await outbound.request("GET", f"http://127.0.0.1:{port}/", policy=LOOPBACK)
    assert reply.status == 302
    assert followed == []


async def test_an_answer_larger_than_the_limit_is_an_error_or_cut() -> None:
    body = b"x" * 5000
    async with serving(answering("200 OK", body)) as port:
        url = f"http://127.0.0.1:{port}/"
        small = Policy(allowed_networks=LOOPBACK.allowed_networks, max_response_bytes=1000)
        with pytest.raises(TooLarge):
            await outbound.request("GET", url, policy=small)
        cut = Policy(
            allowed_networks=LOOPBACK.allowed_networks, max_response_bytes=1000, overflow="truncate"
        )
        reply = await outbound.request("GET", url, policy=cut)
    assert (len(reply.body), reply.truncated) == (1000, True)


async def test_a_server_that_does_not_answer_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(30)

    policy = Policy(allowed_networks=LOOPBACK.allowed_networks, read_timeout=0.3)
    async with serving(silent) as port:
        with pytest.raises(TimedOut):
            await outbound.request("GET", f"http://127.0.0.1:{port}/", policy=policy)


async def test_a_server_that_trickles_its_answer_is_cut_off_by_the_total_time() -> None:
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(100):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.05)

    policy = Policy(allowed_networks=LOOPBACK.allowed_networks, read_timeout=1, total_timeout=0.5)
    async with serving(trickle) as port:
        with pytest.raises(TimedOut, match=r"within 0\.5 s"):
            await outbound.request("GET", f"http://127.0.0.1:{port}/", policy=policy)


async def test_a_closed_port_is_unreachable() -> None:
    async with serving(answering("200 OK")) as port:
        pass
    with pytest.raises(Unreachable, match="connection refused"):
        await outbound.request("GET", f"http://127.0.0.1:{port}/", policy=LOOPBACK)


async def test_proxies_from_the_environment_are_never_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with serving(answering("200 OK", b"direct")) as port:
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
        reply = await outbound.request("GET", f"http://127.0.0.1:{port}/", policy=LOOPBACK)
    assert reply.body == b"direct"


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_https_goes_to_the_checked_address_with_the_name_for_tls_and_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name resolves once (here: to 127.0.0.1); the connection goes to that address,
    and TLS sends the name (SNI) and checks the certificate against it."""
    cert, key = _certificate(tmp_path, "hooks.example")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    names: list[str | None] = []
    server_tls.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment, func-returns-value]
    lookups: list[str] = []

    async def resolve(host: str, port: int, *, timeout: float) -> list[outbound.Address]:
        lookups.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(outbound, "resolve", resolve)
    trusted = ssl.create_default_context(cafile=str(cert))
    policy = Policy(allowed_networks=LOOPBACK.allowed_networks, verify=trusted)
    seen: list = []
    async with serving(answering("204 No Content", seen=seen), tls=server_tls) as port:
        reply = await outbound.request("POST", f"https://hooks.example:{port}/in", policy=policy)
        assert reply.status == 204
        with pytest.raises(Unreachable, match="certificate"):
            await outbound.request("POST", f"https://other.example:{port}/in", policy=policy)
    assert lookups == ["hooks.example", "other.example"]
    assert names[0] == "hooks.example"
    assert seen[0][1]["host"] == f"hooks.example:{port}"
