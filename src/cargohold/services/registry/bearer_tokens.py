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
from cargohold.services.errors import Invalid, NotFound
from cargohold.services.registry import packages, pull_through


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
    mirrored = None if found.exists else await pull_through.reader_role(ctx, principal, scope.name)
    if mirrored is not None:  # a mirror's package, not pulled yet: the mirror's repository
        role = mirrored
    elif not found.exists and "push" in wanted:
        role = await packages.create_on_push(ctx, principal, scope.name)
    return TokenAccess(scope.name, frozenset(wanted & docker_actions(role)), role)


async def issue(
    ctx: Context, principal: Principal, scopes: list[ResourceScope], *, offline: bool
) -> IssuedToken:
    """A token carrying the intersection of what was asked and what is allowed; a partial or
    empty grant is not an error. A pipeline logged in with an ID token gets the lifetime
    of its trust policies and never a refresh token."""
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
    lifetime = settings.token_lifetime
    if principal.federation is not None:
        lifetime, offline = principal.federation.lifetime, False
    assert ctx.signing_key is not None
    token = jwt_tokens.issue(
        ctx.signing_key,
        issuer=settings.token_issuer,
        service=settings.token_service,
        subject=principal.subject,
        name=principal.display,
        grants=grants.values(),
        catalog=catalog,
        lifetime=lifetime,
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
    return IssuedToken(token, lifetime, now, refresh)


_COVERED = """
SELECT p.name FROM packages p
JOIN package_links pl ON pl.package_id = p.id
JOIN repositories r ON r.id = pl.repository_id
WHERE r.id = :repo OR r.workspace_id = :ws
ORDER BY p.name LIMIT :n
"""


async def granted_scopes(ctx: Context, principal: Principal) -> list[ResourceScope]:
    """For a pipeline that named no packages (`POST /api/v1/oidc/exchange` without
    `scope`): every package its trust policies cover, with the actions of their roles.
    More than `token_max_scopes` packages is `Invalid`: name the ones needed."""
    federation = principal.federation
    assert federation is not None
    limit = ctx.settings.token_max_scopes
    found: dict[str, set[str]] = {}
    for grant in federation.grants:
        params = {
            "repo": grant.repository_id if grant.repository_id is not None else -1,
            "ws": grant.workspace_id if grant.repository_id is None else -1,
            "n": limit + 1,
        }
        for row in await ctx.db.fetchall(_COVERED, params):
            found.setdefault(row["name"], set()).update(docker_actions(grant.role))
    if len(found) > limit:
        raise Invalid(
            f"the trust policies cover more than {limit} packages; name the ones this job"
            " needs with scope (repository:WORKSPACE/NAME:pull,push)"
        )
    return [
        ResourceScope("repository", name, frozenset(actions))
        for name, actions in sorted(found.items())
    ]


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
