"""Mirrors through the app, with token auth, on the API's world (tests/functional/api/
people.py); upstreams are real registries on 127.0.0.1 (tests/remote_registries.py), which
the allowed networks let through the forgery guard."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from cargohold.config import Settings
from cargohold.oci import mediatypes
from tests.functional.api.people import Api, world
from tests.functional.conftest import marked_settings
from tests.functional.registry import Image, digest_of
from tests.functional.webhooks.conftest import basic
from tests.remote_registries import Distribution, TokenCargohold, distribution

LOOPBACK = ["127.0.0.0/8"]


@pytest.fixture
def settings(request: pytest.FixtureRequest, fresh_settings: Callable[..., Settings]) -> Settings:
    return marked_settings(
        request,
        fresh_settings,
        auth="token",
        public_url="https://registry.example",
        mirror_allowed_networks=LOOPBACK,
        mirror_timeout=5.0,
    )


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with world(settings) as built:
        yield built


class Proxy:
    """A proxy on 127.0.0.1 in front of an upstream registry, for what the upstream itself
    cannot show: how many requests reached it (per method, path and status; a 401 that asks
    for credentials is no fetch), and a blob whose bytes do not match its digest (`corrupt`:
    the first byte of every blob answer flipped)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: list[tuple[str, str, int]] = []
        self.corrupt = False
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self._forward("HEAD")

            def do_GET(self) -> None:
                self._forward("GET")

            def _forward(self, method: str) -> None:
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in ("authorization", "accept")
                }
                with (
                    httpx.Client(base_url=proxy.upstream, timeout=60) as client,
                    client.stream(method, self.path, headers=headers) as answer,
                ):
                    proxy.requests.append((method, self.path, answer.status_code))
                    self.send_response(answer.status_code)
                    for key, value in answer.headers.items():
                        if key.lower() not in ("transfer-encoding", "connection"):
                            self.send_header(key, value)
                    if "content-length" not in answer.headers:
                        self.send_header("Content-Length", "0")
                    self.end_headers()
                    first = proxy.corrupt and "/blobs/" in self.path
                    for chunk in answer.iter_raw():
                        if first and chunk:
                            chunk, first = bytes([chunk[0] ^ 0xFF]) + chunk[1:], False
                        self.wfile.write(chunk)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self, method: str, fragment: str) -> int:
        """Requests answered with something other than 401 (a request for credentials)."""
        return sum(
            1
            for m, path, status in self.requests
            if m == method and fragment in path and status != 401
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Distribution]:
    """distribution 2.8.2 with htpasswd on 127.0.0.1."""
    with distribution(tmp_path / "upstream") as server:
        yield server


@pytest.fixture
def proxy(upstream: Distribution) -> Iterator[Proxy]:
    found = Proxy(upstream.url)
    try:
        yield found
    finally:
        found.close()


async def push_upstream(
    server: Distribution | TokenCargohold, name: str, reference: str, image: Image
) -> str:
    """Push an image (its blobs, then its manifest) to the upstream; its digest."""
    async with httpx.AsyncClient(base_url=server.url, auth=server.auth, timeout=120) as client:
        for blob in image.blobs:
            started = await client.post(f"/v2/{name}/blobs/uploads/")
            assert started.status_code == 202, started.text
            location = started.headers["location"]
            joiner = "&" if "?" in location else "?"
            response = await client.put(f"{location}{joiner}digest={digest_of(blob)}", content=blob)
            assert response.status_code == 201, response.text
        response = await client.put(
            f"/v2/{name}/manifests/{reference}",
            content=image.manifest,
            headers={"Content-Type": image.media_type},
        )
        assert response.status_code == 201, response.text
    return image.digest


async def make_mirror(
    api: Api, url: str, server: Distribution | TokenCargohold, **extra: Any
) -> dict[str, Any]:
    """acme/hub, a mirror of `url` with the upstream's credentials."""
    body = {
        "prefix": "hub",
        "upstream": url,
        "username": server.auth[0],
        "password": server.auth[1],
        **extra,
    }
    response = await api.post("/workspaces/acme/mirrors", "owner", json=body)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


ACCEPT = ", ".join(sorted(mediatypes.MANIFESTS))


async def pull(api: Api, path: str, who: str = "owner", method: str = "GET") -> httpx.Response:
    """`method path` on /v2 as `who` (Basic); a 503 is an answer here (an upstream down), a
    500 never."""
    headers = {"Accept": ACCEPT, **await basic(api, who)}
    async with httpx.AsyncClient(transport=api.transport, base_url=api.client.base_url) as client:
        response = await client.request(method, path, headers=headers)
    assert response.status_code != 500, response.text
    return response
