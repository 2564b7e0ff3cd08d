"""The remote client's answer to a Bearer challenge, against a small registry on 127.0.0.1
that speaks the Docker token flow and counts the tokens it hands out."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from cargohold.services.outbound import Policy, parse_networks
from cargohold.services.remote.client import Credentials, Remote, RemoteError

POLICY = Policy(allowed_networks=parse_networks("127.0.0.0/8"))


class Registry:
    """/v2/NAME/manifests/REF answers 200 to a token made for its scope, 401 with a Bearer
    challenge otherwise; /token makes tokens (`lifetime` seconds) for Basic u:p only."""

    def __init__(self, lifetime: int = 300) -> None:
        self.tokens: list[str] = []  # the scope of each token made
        self.lifetime = lifetime
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/token":
                    self._token(parse_qs(parts.query))
                    return
                name = parts.path.removeprefix("/v2/").split("/manifests/")[0]
                scope = f"repository:{name}:pull"
                if self.headers.get("Authorization") == f"Bearer {scope}":
                    self._answer(200, b"{}")
                    return
                realm = f"http://127.0.0.1:{registry.port}/token"
                challenge = f'Bearer realm="{realm}",service="test",scope="{scope}"'
                self._answer(401, b"{}", {"WWW-Authenticate": challenge})

            def _token(self, query: dict[str, list[str]]) -> None:
                if self.headers.get("Authorization") != Credentials("u", "p").basic():
                    self._answer(401, b"{}")
                    return
                scope = query["scope"][0]
                registry.tokens.append(scope)
                body = {"token": scope, "expires_in": registry.lifetime}
                self._answer(200, json.dumps(body).encode())

            def _answer(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def registry() -> Iterator[Registry]:
    found = Registry()
    yield found
    found.server.shutdown()
    found.server.server_close()


async def test_a_token_is_fetched_once_per_scope_and_used_again(registry: Registry) -> None:
    remote = Remote(registry.url, credentials=Credentials("u", "p"), policy=POLICY)
    for _ in range(3):
        assert (await remote.get("/v2/a/manifests/1")).status == 200
    assert (await remote.get("/v2/b/manifests/1")).status == 200
    assert registry.tokens == ["repository:a:pull", "repository:b:pull"]


async def test_an_expired_token_is_fetched_again(registry: Registry) -> None:
    registry.lifetime = 11  # used until 10 s before it expires: 1 s
    remote = Remote(registry.url, credentials=Credentials("u", "p"), policy=POLICY)
    assert (await remote.get("/v2/a/manifests/1")).status == 200
    time.sleep(1.2)
    assert (await remote.get("/v2/a/manifests/1")).status == 200
    assert registry.tokens == ["repository:a:pull", "repository:a:pull"]


async def test_credentials_the_token_service_refuses_are_an_auth_error(
    registry: Registry,
) -> None:
    remote = Remote(registry.url, credentials=Credentials("u", "wrong"), policy=POLICY)
    with pytest.raises(RemoteError) as refused:
        await remote.get("/v2/a/manifests/1")
    assert refused.value.kind == "auth" and "wrong" not in refused.value.message


async def test_a_plain_http_realm_of_an_https_registry_is_refused() -> None:
    remote = Remote("https://registry.example", credentials=None, policy=POLICY)
    challenge = {"www-authenticate": 'Bearer realm="http://registry.example/token"'}
    with pytest.raises(RemoteError, match="plain http"):
        await remote._answer(challenge, "repository:a:pull")
