"""Checking OpenID Connect ID tokens: the signature against the issuer's published keys,
and the times, with messages a person reading a CI log can act on.

`peek` reads what a token says about itself without trusting it (its algorithm, key id
and issuer), so that the caller can refuse an issuer nobody trusts before anything is
fetched; `verify` then checks it:

- the algorithm is one of `oidc_algorithms` (asymmetric only: never `none`, never HS*,
  whose shared secret would be the issuer's *public* key);
- the signature verifies with a key the issuer publishes (`openid.Providers`), of the
  type the algorithm needs;
- `exp` is in the future and `iat` is not, `nbf` (if present) has passed, each with
  `oidc_clock_skew`; and the token is at most `oidc_max_token_age` old.

The audience is left to the caller: each trust policy names its own, and single sign-on
expects its client id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from jwt.exceptions import InvalidSignatureError, InvalidTokenError

from cargohold.config import Settings
from cargohold.services.accounts.openid import ProviderError, Providers

MAX_TOKEN_SIZE = 16 * 1024


class IdTokenRefused(Exception):
    """The ID token is not accepted. `genuine`: its signature verified (it really comes from
    the issuer), so the refusal is worth recording."""

    def __init__(self, message: str, *, genuine: bool = False) -> None:
        self.message = message
        self.genuine = genuine
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Unverified:
    """What a token says about itself, not yet trusted."""

    token: str
    algorithm: str
    key_id: str | None
    issuer: str
    claims: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Verified:
    issuer: str
    subject: str
    claims: dict[str, Any]

    @property
    def audiences(self) -> list[str]:
        aud = self.claims.get("aud")
        if isinstance(aud, str):
            return [aud]
        if isinstance(aud, list):
            return [item for item in aud if isinstance(item, str)]
        return []


def looks_like_jwt(text: str) -> bool:
    return text.count(".") == 2 and text.startswith("eyJ")


def peek(token: str, settings: Settings) -> Unverified:
    """The token's algorithm, key id and issuer, read without trusting them; refused when
    it is no JWT or its algorithm is one never accepted."""
    token = token.strip()
    if len(token) > MAX_TOKEN_SIZE:
        raise IdTokenRefused(f"the token is larger than {MAX_TOKEN_SIZE} bytes")
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except InvalidTokenError:
        raise IdTokenRefused(
            "this is not an ID token (a signed JWT); send the token your CI system or OpenID"
            " provider issued"
        ) from None
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm.lower() == "none":
        raise IdTokenRefused("the token is not signed (alg none); unsigned tokens are refused")
    if algorithm.upper().startswith("HS"):
        raise IdTokenRefused(
            f"the token is signed with {algorithm[:10]}, a shared secret; only tokens signed"
            " with the issuer's private key are accepted"
        )
    if algorithm not in settings.oidc_algorithms:
        raise IdTokenRefused(
            f"the signature algorithm {algorithm[:20]!r} is not accepted here (accepted:"
            f" {', '.join(settings.oidc_algorithms)})"
        )
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise IdTokenRefused("the token names no issuer (iss)")
    kid = header.get("kid")
    return Unverified(token, algorithm, kid if isinstance(kid, str) else None, issuer, claims)


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IdTokenRefused(f"the token's {name} is not a number of seconds", genuine=True)
    return float(value)


def check_times(claims: dict[str, Any], settings: Settings, now: float) -> None:
    """exp, nbf and iat, with the allowed clock skew, and the token's greatest age."""
    skew = settings.oidc_clock_skew
    expires = _number(claims, "exp")
    issued = _number(claims, "iat")
    if expires is None or issued is None:
        raise IdTokenRefused("the token lacks exp or iat", genuine=True)
    if expires + skew <= now:
        raise IdTokenRefused(
            f"the token expired at {_when(expires)} ({int(now - expires)} s ago); ask for a"
            " fresh one",
            genuine=True,
        )
    not_before = _number(claims, "nbf")
    if not_before is not None and not_before - skew > now:
        raise IdTokenRefused(
            f"the token is not valid yet: not before {_when(not_before)} (nbf); check the clocks",
            genuine=True,
        )
    if issued - skew > now:
        raise IdTokenRefused(
            f"the token was issued in the future ({_when(issued)}, iat); check the clocks",
            genuine=True,
        )
    if now - issued > settings.oidc_max_token_age + skew:
        raise IdTokenRefused(
            f"the token was issued at {_when(issued)}, more than"
            f" {settings.oidc_max_token_age} s ago (oidc_max_token_age); ask for a fresh one",
            genuine=True,
        )


async def verify(
    found: Unverified, providers: Providers, settings: Settings, *, now: float
) -> Verified:
    """The token's claims, once its signature and times hold (audience not checked)."""
    try:
        keys = await providers.keys(found.issuer, found.key_id, found.algorithm, settings)
    except ProviderError as exc:
        raise IdTokenRefused(exc.message) from None
    if not keys:
        raise IdTokenRefused(
            f"{found.issuer} publishes no key for {found.algorithm} tokens"
            + ("" if found.key_id else " (and the token names no key id)")
        )
    claims: dict[str, Any] | None = None
    for key in keys:
        try:
            claims = jwt.decode(
                found.token,
                key=key,
                algorithms=[found.algorithm],
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
            break
        except InvalidSignatureError:
            continue
        except InvalidTokenError as exc:
            raise IdTokenRefused(f"the token is malformed: {exc}") from None
    if claims is None:
        raise IdTokenRefused(
            f"the token's signature does not verify with the keys of {found.issuer}"
        )
    if claims.get("iss") != found.issuer:
        raise IdTokenRefused("the token's issuer changed while it was read")
    check_times(claims, settings, now)
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise IdTokenRefused("the token names no subject (sub)", genuine=True)
    return Verified(found.issuer, subject, claims)
