"""OpenID providers as this registry sees them: discovery documents and signing keys (JWKS),
fetched through the outbound guard and kept per process.

An issuer's `/.well-known/openid-configuration` names its `jwks_uri`; both are fetched
only for issuers that a trust policy (or the single sign-on setting) names, through
`fetch`, the one door to the network here: addresses are checked against request forgery,
time and size are bounded and redirects are never followed. What was fetched is kept for
`oidc_keys_cache_seconds`; a token whose key id (`kid`) is not among the keys fetches them
again, at most once per `oidc_keys_refetch_interval` per issuer, so that a provider that
rotates its keys is followed at once and a stream of made-up key ids costs nothing. A fetch
that fails is tried again at most as often, and keys fetched before stay in use meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from jwt import PyJWK
from jwt.exceptions import PyJWKError

from cargohold.config import Settings
from cargohold.services import outbound

WELL_KNOWN = "/.well-known/openid-configuration"
MAX_ISSUERS = 256  # kept per process; the oldest go first
MAX_KEYS = 50  # keys of one issuer that are looked at

# The key type (and curve) each algorithm needs.
_KEY_TYPES: dict[str, tuple[str, str | None]] = {
    **{alg: ("RSA", None) for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")},
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    "EdDSA": ("OKP", None),
}


class ProviderError(Exception):
    """The provider could not be used: its discovery or keys could not be fetched, or are
    not what OpenID Connect says. `message` names the issuer and what went wrong, never a
    secret."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class UnknownKey(ProviderError):
    """The token names a key that the issuer does not publish."""


async def fetch(
    method: str,
    url: str,
    settings: Settings,
    *,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> outbound.Reply:
    """The one door to the network for OpenID: the outbound guard with the OIDC settings
    (loopback and private issuers only within `oidc_allowed_networks`)."""
    policy = outbound.Policy(
        allowed_networks=outbound.parse_networks(settings.oidc_allowed_networks),
        allow_http=settings.oidc_allow_http_issuers,
        resolve_timeout=settings.oidc_fetch_timeout,
        connect_timeout=settings.oidc_fetch_timeout,
        read_timeout=settings.oidc_fetch_timeout,
        total_timeout=settings.oidc_fetch_timeout * 2,
        max_response_bytes=settings.oidc_max_document_size,
    )
    try:
        return await outbound.request(method, url, policy=policy, headers=headers, content=content)
    except outbound.OutboundError as exc:
        raise ProviderError(f"{outbound.redact(url)}: {exc.message}") from None


def check_url(url: str, settings: Settings, what: str) -> str:
    """An issuer or endpoint URL: https (http only with `oidc_allow_http_issuers`), a host,
    no user information, query or fragment."""
    schemes = ("https", "http") if settings.oidc_allow_http_issuers else ("https",)
    try:
        target = outbound.parse_target(url, schemes=schemes)
    except outbound.Refused as exc:
        plain = url.lower().startswith("http://") and not settings.oidc_allow_http_issuers
        hint = " (http:// is not allowed here)" if plain else ""
        raise ProviderError(f"the {what} {url[:200]!r}: {exc.message}{hint}") from None
    if target.url.userinfo or target.url.query:
        raise ProviderError(f"the {what} may not hold user information or a query")
    return url


async def get_json(url: str, settings: Settings, what: str) -> dict[str, Any]:
    """A JSON object from `url` (HTTP 200, at most `oidc_max_document_size`)."""
    reply = await fetch("GET", url, settings, headers={"Accept": "application/json"})
    shown = outbound.redact(url)
    if 300 <= reply.status < 400:
        raise ProviderError(f"{what} at {shown} answered a redirect, which is not followed")
    if reply.status != 200:
        raise ProviderError(f"{what} at {shown} answered HTTP {reply.status}")
    try:
        document = json.loads(reply.body)
    except ValueError:
        raise ProviderError(f"{what} at {shown} is not JSON") from None
    if not isinstance(document, dict):
        raise ProviderError(f"{what} at {shown} is not a JSON object")
    return document


@dataclass(frozen=True, slots=True)
class Discovery:
    issuer: str
    jwks_uri: str
    authorization_endpoint: str | None
    token_endpoint: str | None
    userinfo_endpoint: str | None


@dataclass(slots=True)
class _Issuer:
    discovery: Discovery | None = None
    discovered_at: float = 0.0
    keys: list[dict[str, Any]] = field(default_factory=list)
    keys_at: float = 0.0  # when the keys were last fetched (0: never)
    tried_at: float = 0.0  # when they were last asked for, whatever came of it
    refetched_at: float = 0.0  # when an unknown key id last made them be fetched again
    error: str | None = None  # why the last try failed
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _endpoint(document: dict[str, Any], name: str, settings: Settings) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProviderError(f"the discovery document's {name} is not a URL")
    return check_url(value, settings, name)


class Providers:
    """What this process knows of OpenID providers, per issuer."""

    def __init__(self) -> None:
        self._issuers: dict[str, _Issuer] = {}

    def _entry(self, issuer: str) -> _Issuer:
        entry = self._issuers.pop(issuer, None) or _Issuer()
        self._issuers[issuer] = entry  # the most recently used last
        while len(self._issuers) > MAX_ISSUERS:
            del self._issuers[next(iter(self._issuers))]
        return entry

    def forget(self, issuer: str | None = None) -> None:
        """Drop what is known of one issuer (or all of them)."""
        if issuer is None:
            self._issuers.clear()
        else:
            self._issuers.pop(issuer, None)

    async def discover(self, issuer: str, settings: Settings) -> Discovery:
        """The issuer's discovery document, fetched at most once per cache period."""
        entry = self._entry(issuer)
        async with entry.lock:
            return await self._discover(issuer, entry, settings)

    async def _discover(self, issuer: str, entry: _Issuer, settings: Settings) -> Discovery:
        now = time.monotonic()
        if entry.discovery is not None and now - entry.discovered_at < (
            settings.oidc_keys_cache_seconds
        ):
            return entry.discovery
        check_url(issuer, settings, "issuer")
        document = await get_json(
            issuer.rstrip("/") + WELL_KNOWN, settings, f"the discovery document of {issuer}"
        )
        if document.get("issuer") != issuer:
            found = str(document.get("issuer"))[:200]
            raise ProviderError(
                f"the discovery document of {issuer} names another issuer ({found!r})"
            )
        jwks_uri = _endpoint(document, "jwks_uri", settings)
        if jwks_uri is None:
            raise ProviderError(f"the discovery document of {issuer} names no jwks_uri")
        entry.discovery = Discovery(
            issuer=issuer,
            jwks_uri=jwks_uri,
            authorization_endpoint=_endpoint(document, "authorization_endpoint", settings),
            token_endpoint=_endpoint(document, "token_endpoint", settings),
            userinfo_endpoint=_endpoint(document, "userinfo_endpoint", settings),
        )
        entry.discovered_at = now
        return entry.discovery

    async def keys(
        self, issuer: str, kid: str | None, algorithm: str, settings: Settings
    ) -> list[PyJWK]:
        """The issuer's keys that may have signed a token with this key id and algorithm
        (every key for the algorithm when the token names none). An unknown key id fetches
        the keys again, unless they were fetched (or tried) within
        `oidc_keys_refetch_interval`."""
        entry = self._entry(issuer)
        async with entry.lock:
            now = time.monotonic()
            if not entry.keys_at or now - entry.keys_at >= settings.oidc_keys_cache_seconds:
                await self._refresh(issuer, entry, settings, now)
            found = _select(entry.keys, kid, algorithm)
            if found or kid is None:
                return found
            interval = settings.oidc_keys_refetch_interval
            if not entry.refetched_at or now - entry.refetched_at >= interval:
                entry.refetched_at = now
                await self._refresh(issuer, entry, settings, now, again=True)
                found = _select(entry.keys, kid, algorithm)
            if not found:
                raise UnknownKey(
                    f"the token's key id {kid[:80]!r} is not among the keys {issuer} publishes"
                )
            return found

    async def _refresh(
        self, issuer: str, entry: _Issuer, settings: Settings, now: float, *, again: bool = False
    ) -> None:
        """Fetch the keys (`again`: now, for an unknown key id), or, after a failure, once
        the next try is due. A failure keeps the keys fetched before (a provider that is
        briefly down does not stop logins); without any, it is raised, and repeated until
        the next try is due."""
        if not again and not _may_try(entry, now, settings):
            if not entry.keys_at and entry.error is not None:
                raise ProviderError(entry.error)
            return
        entry.tried_at = now
        try:
            discovery = await self._discover(issuer, entry, settings)
            document = await get_json(discovery.jwks_uri, settings, f"the keys of {issuer}")
            keys = document.get("keys")
            if not isinstance(keys, list):
                raise ProviderError(f"the keys of {issuer} are not a JWK set")
        except ProviderError as exc:
            entry.error = exc.message
            if not entry.keys_at:
                raise
            return
        entry.keys = [key for key in keys[:MAX_KEYS] if isinstance(key, dict)]
        entry.keys_at, entry.error = now, None


def _may_try(entry: _Issuer, now: float, settings: Settings) -> bool:
    return not entry.tried_at or now - entry.tried_at >= settings.oidc_keys_refetch_interval


def _select(keys: list[dict[str, Any]], kid: str | None, algorithm: str) -> list[PyJWK]:
    kty, curve = _KEY_TYPES[algorithm]
    found = []
    for key in keys:
        if kid is not None and key.get("kid") != kid:
            continue
        if key.get("use", "sig") != "sig" or key.get("kty") != kty:
            continue
        if key.get("alg", algorithm) != algorithm:
            continue
        if curve is not None and key.get("crv") != curve:
            continue
        try:
            found.append(PyJWK(key, algorithm=algorithm))
        except PyJWKError:
            continue
    return found
