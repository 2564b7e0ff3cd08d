"""Registry bearer tokens: short-lived EdDSA JWTs that carry their grants.

A /v2 request with a bearer token is checked against the token alone, with no
database round trip: the grant was computed (role ∩ token scopes ∩ requested
scope) when the token was issued, and the token lives a few minutes.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cargohold.authz.errors import RoleUnknown, TokenInvalid
from cargohold.authz.roles import Action, Role

ALGORITHM = "EdDSA"


@dataclass(frozen=True, slots=True)
class TokenAccess:
    """What a token may do with one repository."""

    name: str
    actions: frozenset[str]
    role: Role

    def allows(self, action: Action) -> bool:
        return action.docker_action in self.actions and self.role >= action.required

    def claim(self) -> dict[str, Any]:
        return {
            "type": "repository",
            "name": self.name,
            "actions": sorted(self.actions),
            "role": self.role.label,
        }


@dataclass(frozen=True, slots=True)
class Claims:
    subject: str
    grants: dict[str, TokenAccess]
    catalog: bool
    expires_at: int
    name: str | None = None  # who the subject is, for people to read (an email, a robot)

    def allows(self, name: str, action: Action) -> bool:
        grant = self.grants.get(name)
        return grant is not None and grant.allows(action)


def issue(
    key: Ed25519PrivateKey,
    *,
    issuer: str,
    service: str,
    subject: str,
    grants: Iterable[TokenAccess],
    catalog: bool,
    lifetime: int,
    now: int,
    name: str | None = None,
) -> str:
    access = [grant.claim() for grant in grants]
    if catalog:
        access.append({"type": "registry", "name": "catalog", "actions": ["*"]})
    payload = {
        "iss": issuer,
        "sub": subject,
        "aud": service,
        "iat": now,
        "nbf": now - 5,
        "exp": now + lifetime,
        "jti": secrets.token_hex(16),
        "access": access,
    }
    if name is not None:
        payload["name"] = name
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def verify(
    token: str, key: Ed25519PublicKey, *, issuer: str, service: str, now: int | None = None
) -> Claims:
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=service,
            issuer=issuer,
            options={
                "require": ["exp", "iat", "nbf", "iss", "aud", "sub"],
                "verify_exp": False,  # checked below, against the caller's clock
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise TokenInvalid(str(exc)) from None
    clock = int(time.time()) if now is None else now
    try:
        expires_at, not_before = int(payload["exp"]), int(payload["nbf"])
    except (TypeError, ValueError):
        raise TokenInvalid("exp and nbf must be numbers") from None
    if expires_at <= clock:
        raise TokenInvalid("token has expired")
    if not_before > clock:
        raise TokenInvalid("token is not yet valid")
    grants: dict[str, TokenAccess] = {}
    catalog = False
    access = payload.get("access", [])
    if not isinstance(access, list):
        raise TokenInvalid("access claim must be a list")
    for entry in access:
        if not isinstance(entry, dict):
            raise TokenInvalid("access entries must be objects")
        if entry.get("type") == "registry" and entry.get("name") == "catalog":
            catalog = True
        elif entry.get("type") == "repository":
            grant = _grant(entry)
            grants[grant.name] = grant
    name = payload.get("name")
    return Claims(
        str(payload["sub"]), grants, catalog, expires_at, name if isinstance(name, str) else None
    )


def _grant(entry: dict[str, Any]) -> TokenAccess:
    """A repository access entry: a string name, a list of string actions, a known role."""
    name, actions, role = entry.get("name"), entry.get("actions"), entry.get("role", "read")
    if (
        not isinstance(name, str)
        or not isinstance(actions, list)
        or not all(isinstance(action, str) for action in actions)
        or not isinstance(role, str)
    ):
        raise TokenInvalid("malformed access entry")
    try:
        return TokenAccess(name, frozenset(actions), Role.parse(role))
    except RoleUnknown:
        raise TokenInvalid("malformed access entry") from None
