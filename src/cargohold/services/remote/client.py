"""A client of another registry's /v2 API, through the outbound guard (services/outbound.py).

`Remote` sends GET and HEAD requests to `BASE/v2/...` and answers the registry's
authentication the way docker does:

- anonymous first, or straight with a cached bearer token for the request's scope;
- a 401 with `WWW-Authenticate: Basic` and credentials: the request again with Basic (and
  Basic from then on);
- a 401 with `WWW-Authenticate: Bearer realm=...,service=...,scope=...`: a token from the
  realm (`GET realm?service=...&scope=...`, with Basic when there are credentials, the
  realm through the guard too), then the request again with it. Tokens are cached per
  scope until shortly before they expire (`expires_in`, 60 s when the answer names none).

Secrets never leave this module except in Authorization headers: `Credentials` hides its
password from `repr`, errors name the registry's host only, and nothing here logs.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode

from cargohold.services import outbound
from cargohold.services.outbound import OutboundError, Policy, Streamed

# A token is used until this many seconds before it expires.
TOKEN_MARGIN = 10.0
DEFAULT_TOKEN_LIFETIME = 60.0
MAX_TOKEN_ANSWER = 64 * 1024
_PARAM = re.compile(r'([a-zA-Z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')
_REPOSITORY_PATH = re.compile(r"/v2/(?P<name>.+)/(?:manifests|blobs|tags|referrers)(?:/|$)")


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user name and password (or token) for the remote registry."""

    username: str
    password: str = field(repr=False)

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


class RemoteError(Exception):
    """The remote registry could not be asked, or refused to let us in. `message` names its
    host at most, never a secret. `kind`: `unreachable` (no answer: refused by the guard,
    network, timeout, too large), `auth` (credentials or token refused), `protocol`
    (an answer that makes no sense)."""

    def __init__(self, message: str, *, kind: str) -> None:
        self.message = message
        self.kind = kind
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # "bearer" or "basic", lower case
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """The first challenge of a `WWW-Authenticate` header (None when there is none)."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {}
    for match in _PARAM.finditer(rest):
        value = match.group(2) if match.group(2) is not None else match.group(3)
        params[match.group(1).lower()] = value.replace('\\"', '"')
    return Challenge(scheme.lower(), params)


def repository_of(path: str) -> str | None:
    """The repository a /v2 path names (`/v2/library/busybox/manifests/1` → library/busybox)."""
    match = _REPOSITORY_PATH.match(path)
    return match.group("name") if match else None


@dataclass(slots=True)
class _Token:
    value: str
    expires: float


class Remote:
    """One remote registry at `base` (`https://registry-1.docker.io`), with optional
    credentials. Keeps the tokens it got, per scope: keep one `Remote` per registry and
    credentials for as long as they hold."""

    def __init__(
        self,
        base: str,
        *,
        credentials: Credentials | None,
        policy: Policy,
        token_policy: Policy | None = None,
    ) -> None:
        self.base = base.rstrip("/")
        self.credentials = credentials
        self.policy = policy
        self.token_policy = token_policy or policy
        self._tokens: dict[str, _Token] = {}
        self._basic = False  # the registry asked for Basic: send it from the first request

    def scope(self, path: str, actions: str) -> str | None:
        name = repository_of(path)
        return None if name is None else f"repository:{name}:{actions}"

    async def get(
        self,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        actions: str = "pull",
        max_bytes: int | None = None,
    ) -> outbound.Reply:
        """GET `path` (`/v2/...`) and read its answer whole (at most `max_bytes`)."""
        return await self.send("GET", path, headers=headers, actions=actions, max_bytes=max_bytes)

    async def head(
        self, path: str, *, headers: Mapping[str, str] | None = None, actions: str = "pull"
    ) -> outbound.Reply:
        return await self.send("HEAD", path, headers=headers, actions=actions)

    async def send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        actions: str = "pull",
        content: bytes | None = None,
        max_bytes: int | None = None,
    ) -> outbound.Reply:
        """One request, authenticated as the registry asks; any status is a Reply, except
        that credentials or a token refused again is RemoteError(kind="auth")."""
        policy = self.policy
        if max_bytes is not None:
            policy = _replace(policy, max_response_bytes=max_bytes)
        scope = self.scope(path, actions)
        for attempt in range(2):
            sent = {**(headers or {}), **self._authorization(scope)}
            try:
                reply = await outbound.request(
                    method, self.base + path, policy=policy, headers=sent, content=content
                )
            except OutboundError as exc:
                raise RemoteError(exc.message, kind="unreachable") from None
            if reply.status != 401 or attempt:
                return reply
            if not await self._answer(reply.headers, scope):
                return reply
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def stream(
        self,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        actions: str = "pull",
        policy: Policy | None = None,
    ) -> AsyncIterator[Streamed]:
        """GET `path` and hand the answer over before its body is read (blobs), with
        `policy` (larger bounds than the client's own, typically)."""
        scope = self.scope(path, actions)
        for attempt in range(2):
            sent = {**(headers or {}), **self._authorization(scope)}
            try:
                async with outbound.stream(
                    "GET", self.base + path, policy=policy or self.policy, headers=sent
                ) as answer:
                    if answer.status == 401 and not attempt:
                        challenged = answer.headers
                    else:
                        yield answer
                        return
            except OutboundError as exc:
                raise RemoteError(exc.message, kind="unreachable") from None
            if not await self._answer(challenged, scope):
                raise RemoteError(f"{self.host} refused the request (401)", kind="auth")

    @property
    def host(self) -> str:
        return outbound.redact(self.base)

    def _authorization(self, scope: str | None) -> dict[str, str]:
        token = self._tokens.get(scope or "")
        if token is not None and token.expires > time.monotonic():
            return {"Authorization": f"Bearer {token.value}"}
        if self._basic and self.credentials is not None:
            return {"Authorization": self.credentials.basic()}
        return {}

    async def _answer(self, headers: Mapping[str, str], scope: str | None) -> bool:
        """Act on a 401: True when the request is worth sending again (a new token, or
        Basic now), False when nothing would change."""
        challenge = parse_challenge(headers.get("www-authenticate", ""))
        if challenge is None:
            return False
        if challenge.scheme == "basic":
            if self.credentials is None or self._basic:
                return False
            self._basic = True
            return True
        if challenge.scheme != "bearer" or "realm" not in challenge.params:
            return False
        asked = challenge.params.get("scope") or scope
        self._tokens[scope or ""] = await self._fetch_token(challenge.params, asked)
        return True

    async def _fetch_token(self, params: Mapping[str, str], scope: str | None) -> _Token:
        query = {key: params[key] for key in ("service",) if params.get(key)}
        if scope:
            query["scope"] = scope
        realm = params["realm"]
        if realm.lower().startswith("http://") and self.base.lower().startswith("https://"):
            raise RemoteError(
                f"{self.host} sends its token service over plain http://, where credentials"
                " would travel unencrypted",
                kind="auth",
            )
        url = realm + ("&" if "?" in realm else "?") + urlencode(query) if query else realm
        headers = {"Authorization": self.credentials.basic()} if self.credentials else {}
        policy = _replace(self.token_policy, max_response_bytes=MAX_TOKEN_ANSWER)
        try:
            reply = await outbound.request("GET", url, policy=policy, headers=headers)
        except OutboundError as exc:
            raise RemoteError(f"the token service: {exc.message}", kind="unreachable") from None
        if reply.status in (401, 403):
            raise RemoteError(
                f"the token service of {self.host} refused the credentials ({reply.status})",
                kind="auth",
            )
        if reply.status != 200:
            raise RemoteError(
                f"the token service of {self.host} answered {reply.status}", kind="unreachable"
            )
        return _token_of(reply.body, self.host)


def _token_of(body: bytes, host: str) -> _Token:
    try:
        answer = json.loads(body)
        value = answer.get("token") or answer.get("access_token")
        lifetime = float(answer.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
    except (ValueError, AttributeError, TypeError):
        value, lifetime = None, 0.0
    if not isinstance(value, str) or not value:
        raise RemoteError(f"the token service of {host} answered no token", kind="protocol")
    expires = time.monotonic() + max(0.0, min(lifetime, 86400.0) - TOKEN_MARGIN)
    return _Token(value, expires)


def _replace(policy: Policy, *, max_response_bytes: int) -> Policy:
    return dataclasses.replace(policy, max_response_bytes=max_response_bytes)
