"""Registry bearer tokens: what a genuine one carries, and every way a bad one is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cargohold.authz.errors import TokenInvalid
from cargohold.authz.roles import Action, Role
from cargohold.authz.tokens import Claims, TokenAccess, issue, verify

KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()
ISSUER, SERVICE = "cargohold", "cargohold"
NOW = int(time.time())

WEB = TokenAccess("acme/web", frozenset({"pull", "push"}), Role.WRITE)


def _issue(**overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "issuer": ISSUER,
        "service": SERVICE,
        "subject": "user:1:abc",
        "grants": [WEB],
        "catalog": False,
        "lifetime": 300,
        "now": NOW,
    }
    arguments.update(overrides)
    return issue(KEY, **arguments)


def _verify(token: str, now: int | None = NOW) -> Claims:
    return verify(token, KEY.public_key(), issuer=ISSUER, service=SERVICE, now=now)


def _payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user:1:abc",
        "aud": SERVICE,
        "iat": NOW,
        "nbf": NOW - 5,
        "exp": NOW + 300,
        "jti": "0" * 32,
        "access": [WEB.claim()],
    }
    for key, value in changes.items():
        if value is None:
            payload.pop(key)
        else:
            payload[key] = value
    return payload


def _signed(payload: dict[str, Any], key: Ed25519PrivateKey = KEY) -> str:
    return jwt.encode(payload, key, algorithm="EdDSA")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    head = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())
    return head + "." + _b64(signature)


def _hs256_with_public_key(payload: dict[str, Any]) -> str:
    """The algorithm-confusion attack: HMAC keyed with the (public) verification key."""
    secret = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = _b64(b'{"alg":"HS256","typ":"JWT"}') + "." + _b64(json.dumps(payload).encode())
    return head + "." + _b64(hmac.new(secret, head.encode(), hashlib.sha256).digest())


def test_round_trip_carries_grants_and_catalog() -> None:
    token = _issue(grants=[WEB, TokenAccess("acme/api", frozenset(), Role.NONE)], catalog=True)
    claims = _verify(token)
    assert claims.subject == "user:1:abc"
    assert claims.catalog is True
    assert claims.expires_at == NOW + 300
    assert claims.grants["acme/web"] == WEB
    assert claims.grants["acme/api"] == TokenAccess("acme/api", frozenset(), Role.NONE)


def test_issued_claims_follow_the_docker_token_spec() -> None:
    token = _issue(catalog=True)
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "EdDSA"
    assert set(payload) >= {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"}
    assert payload["aud"] == SERVICE and payload["iss"] == ISSUER
    assert payload["exp"] == NOW + 300 and payload["iat"] == NOW and payload["nbf"] <= NOW
    assert payload["access"] == [
        {"type": "repository", "name": "acme/web", "actions": ["pull", "push"], "role": "write"},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]
    assert _issue() != _issue(), "every token has its own jti"


# Each of these is refused with TokenInvalid, never another exception.
BAD_TOKENS = {
    "empty": "",
    "garbage": "not a token",
    "two-parts": "abc.def",
    "four-parts": "a.b.c.d",
    "bad-base64": "!!!.???.***",
    "json-not-object": _unsigned({"alg": "EdDSA"}, [1, 2]),  # type: ignore[arg-type]
    "wrong-signature": _signed(_payload(), OTHER_KEY),
    "signature-stripped": _signed(_payload()).rsplit(".", 1)[0] + ".",
    "signature-of-another-token": _signed(_payload()).rsplit(".", 1)[0]
    + "."
    + _signed(_payload(sub="user:2")).rsplit(".", 1)[1],
    "alg-none": _unsigned({"alg": "none", "typ": "JWT"}, _payload()),
    "alg-none-uppercase": _unsigned({"alg": "NONE", "typ": "JWT"}, _payload()),
    "alg-hs256-confusion": _hs256_with_public_key(_payload()),
    "expired": _signed(_payload(iat=NOW - 600, nbf=NOW - 600, exp=NOW - 300)),
    "not-yet-valid": _signed(_payload(nbf=NOW + 600, exp=NOW + 900)),
    "wrong-audience": _signed(_payload(aud="another-registry")),
    "refresh-audience": _signed(_payload(aud=SERVICE + "#refresh")),
    "audience-list-without-us": _signed(_payload(aud=["a", "b"])),
    "wrong-issuer": _signed(_payload(iss="someone-else")),
    "no-exp": _signed(_payload(exp=None)),
    "no-iat": _signed(_payload(iat=None)),
    "no-nbf": _signed(_payload(nbf=None)),
    "no-aud": _signed(_payload(aud=None)),
    "no-iss": _signed(_payload(iss=None)),
    "no-sub": _signed(_payload(sub=None)),
    "exp-not-a-number": _signed(_payload(exp="tomorrow")),
    "access-not-a-list": _signed(_payload(access={"type": "repository"})),
    "access-entry-not-an-object": _signed(_payload(access=["repository:acme/web:pull"])),
    "access-entry-without-name": _signed(
        _payload(access=[{"type": "repository", "actions": ["pull"], "role": "read"}])
    ),
    "access-entry-without-actions": _signed(
        _payload(access=[{"type": "repository", "name": "acme/web", "role": "read"}])
    ),
    "access-actions-a-string": _signed(
        _payload(access=[{"type": "repository", "name": "acme/web", "actions": "pull,push"}])
    ),
    "access-actions-not-strings": _signed(
        _payload(access=[{"type": "repository", "name": "acme/web", "actions": [1, None]}])
    ),
    "access-name-not-a-string": _signed(
        _payload(access=[{"type": "repository", "name": ["acme/web"], "actions": ["pull"]}])
    ),
    "access-unknown-role": _signed(
        _payload(
            access=[
                {"type": "repository", "name": "acme/web", "actions": ["pull"], "role": "owner"}
            ]
        )
    ),
    "access-role-not-a-string": _signed(
        _payload(
            access=[{"type": "repository", "name": "acme/web", "actions": ["pull"], "role": 3}]
        )
    ),
}


@pytest.mark.parametrize("token", list(BAD_TOKENS.values()), ids=list(BAD_TOKENS))
def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenInvalid):
        _verify(token)


def test_the_well_formed_baseline_of_the_bad_tokens_is_accepted() -> None:
    """The table above differs from this token by one thing each."""
    assert _verify(_signed(_payload())).grants == {"acme/web": WEB}


def test_expiry_is_checked_against_the_given_clock() -> None:
    token = _issue(lifetime=60)
    assert _verify(token, now=NOW + 59).expires_at == NOW + 60
    with pytest.raises(TokenInvalid, match="expired"):
        _verify(token, now=NOW + 60)


def test_a_missing_role_means_read() -> None:
    token = _signed(
        _payload(access=[{"type": "repository", "name": "acme/web", "actions": ["pull", "push"]}])
    )
    grant = _verify(token).grants["acme/web"]
    assert grant.role is Role.READ
    assert grant.allows(Action.PULL) and not grant.allows(Action.PUSH)


def test_unknown_access_types_are_ignored() -> None:
    token = _signed(_payload(access=[{"type": "plugin", "name": "x", "actions": ["*"]}]))
    claims = _verify(token)
    assert claims.grants == {} and claims.catalog is False


@pytest.mark.parametrize(
    ("actions", "role", "allowed"),
    [
        ({"pull"}, Role.READ, {Action.PULL}),
        ({"pull"}, Role.ADMIN, {Action.PULL}),
        ({"pull", "push"}, Role.READ, {Action.PULL}),
        ({"pull", "push"}, Role.WRITE, {Action.PULL, Action.PUSH}),
        ({"pull", "push", "delete"}, Role.WRITE, {Action.PULL, Action.PUSH, Action.DELETE_TAG}),
        ({"pull", "push", "delete"}, Role.ADMIN, set(Action)),
        ({"delete"}, Role.ADMIN, {Action.DELETE_TAG, Action.DELETE_IMAGE}),
        ({"*"}, Role.ADMIN, set()),  # `*` is expanded when granting, never trusted as such
        (set(), Role.ADMIN, set()),
        ({"pull", "push", "delete"}, Role.NONE, set()),
    ],
)
def test_grant_allows_needs_both_the_action_and_the_role(
    actions: set[str], role: Role, allowed: set[Action]
) -> None:
    grant = TokenAccess("acme/web", frozenset(actions), role)
    assert {action for action in Action if grant.allows(action)} == allowed
    claims = Claims("user:1", {"acme/web": grant}, False, NOW + 60)
    assert {action for action in Action if claims.allows("acme/web", action)} == allowed
    assert not any(claims.allows("acme/other", action) for action in Action)


def test_the_given_clock_decides_even_far_from_real_time() -> None:
    past = NOW - 100_000
    token = _issue(now=past, lifetime=60)
    assert _verify(token, now=past + 59).expires_at == past + 60
    with pytest.raises(TokenInvalid, match="not yet valid"):
        _verify(token, now=past - 3600)
