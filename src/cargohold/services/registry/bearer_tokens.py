"""Issuing and checking the docker registry's bearer tokens (the `/token` use case)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cargohold.authz import tokens as jwt_tokens
from cargohold.authz.roles import docker_actions
from cargohold.authz.scopes import ResourceScope
from cargohold.authz.tokens import Claims, TokenAccess
from cargohold.oci.errors import NameInvalid
from cargohold.oci.names import validate_name
from cargohold.services.accounts import principals, sessions
from cargohold.services.accounts.principals import Principal
from cargohold.services.accounts.tokens import get_token
from cargohold.services.context import Context
from cargohold.services.errors import NotFound
from cargohold.services.registry import packages


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int
    issued_at: int
    refresh_token: str | None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "token": self.token,
            "access_token": self.token,
            "expires_in": self.expires_in,
            "issued_at": datetime.fromtimestamp(self.issued_at, UTC).isoformat(),
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        return body


async def _grant(ctx: Context, principal: Principal, scope: ResourceScope) -> TokenAccess | None:
    try:
        validate_name(scope.name)
    except NameInvalid:
        return None
    wanted = set(scope.actions)
    if "*" in wanted:
        wanted = {"pull", "push", "delete"}
    found = await principals.package_access(ctx.db, principal, scope.name)
    role = found.role
    if not found.exists and "push" in wanted:
        role = await packages.create_on_push(ctx, principal, scope.name)
    return TokenAccess(scope.name, frozenset(wanted & docker_actions(role)), role)


async def issue(
    ctx: Context, principal: Principal, scopes: list[ResourceScope], *, offline: bool
) -> IssuedToken:
    """A token carrying the intersection of what was asked and what is allowed; a partial or
    empty grant is not an error."""
    grants: dict[str, TokenAccess] = {}
    catalog = False
    for scope in scopes:
        if scope.type == "registry" and scope.name == "catalog":
            catalog = True
        elif scope.type == "repository":
            grant = await _grant(ctx, principal, scope)
            if grant is not None:
                previous = grants.get(grant.name)
                actions = grant.actions | (previous.actions if previous else frozenset())
                grants[grant.name] = TokenAccess(grant.name, actions, grant.role)
    now = int(ctx.now())
    settings = ctx.settings
    assert ctx.signing_key is not None
    token = jwt_tokens.issue(
        ctx.signing_key,
        issuer=settings.token_issuer,
        service=settings.token_service,
        subject=principal.subject,
        name=principal.display,
        grants=grants.values(),
        catalog=catalog,
        lifetime=settings.token_lifetime,
        now=now,
    )
    refresh = None
    if offline and not principal.anonymous:
        _, refresh = await sessions.start_session(
            ctx.db,
            kind=sessions.REFRESH,
            user_id=principal.user.id if principal.user is not None else None,
            token_id=principal.token.id if principal.token is not None else None,
            lifetime=settings.refresh_token_lifetime,
            now=now,
        )
    return IssuedToken(token, settings.token_lifetime, now, refresh)


async def principal_from_refresh(ctx: Context, refresh_token: str) -> Principal | None:
    """The principal a refresh token stands for, while it holds: its row stands (it was not
    revoked), it has not expired, and what it was made with still holds: its API or access
    token, or, for one made with a password, password login."""
    found = await sessions.check_session(
        ctx.db, refresh_token, kind=sessions.REFRESH, now=ctx.now()
    )
    if found is None:
        return None
    session, user = found
    if session.token_id is None:
        return Principal(user=user) if user is not None and ctx.settings.password_login else None
    try:
        token = await get_token(ctx.db, session.token_id)
    except NotFound:
        return None
    if not token.usable(ctx.now()):
        return None
    return Principal(user=user, token=token) if token.kind == "personal" else Principal(token=token)


_VERIFIED_MAX = 4096


def verify(ctx: Context, token: str) -> Claims:
    """Check a bearer token by its signature alone: no database round trip.

    Clients reuse a token until it expires, so the claims of a token whose signature
    was checked are kept (per process) until its expiry: one signature check per
    token, not per request. Forged or altered tokens never enter the cache."""
    now = int(ctx.now())
    verified = ctx.verified_tokens
    cached = verified.get(token)
    if cached is not None:
        if cached.expires_at > now:
            return cached
        del verified[token]
    assert ctx.signing_key is not None
    claims = jwt_tokens.verify(
        token,
        ctx.public_key,
        issuer=ctx.settings.token_issuer,
        service=ctx.settings.token_service,
        now=now,
    )
    verified[token] = claims
    while len(verified) > _VERIFIED_MAX:
        verified.popitem(last=False)
    return claims
