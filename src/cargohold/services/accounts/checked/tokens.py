"""API tokens and access tokens, as their owners manage them.

A person manages their own API tokens, and sees and ends their own sessions (UI
sign-ins and refresh tokens); repository admins manage a repository's
access tokens, workspace owners a workspace's. Every change needs a personal token
with the admin:package scope, so a token never makes a broader one. The secret
text is returned once, by the create use cases, and never stored.
"""

from __future__ import annotations

from typing import Literal, TypedDict, Unpack

from cargohold.authz.roles import Role
from cargohold.config import Settings
from cargohold.metadata.db import Queries
from cargohold.services.accounts import sessions, tokens
from cargohold.services.accounts.principals import (
    Principal,
    require_person,
    require_repository,
    require_workspace,
)
from cargohold.services.accounts.sessions import Session
from cargohold.services.accounts.tokens import Token
from cargohold.services.errors import NotFound


class TokenRequest(TypedDict):
    """What a create use case is asked for: the token's name, scopes and lifetime (such
    as `30d`, or `never`), with the site's settings that bound it and the time now."""

    name: str
    scopes: list[str]
    expires_in: str | None
    settings: Settings
    now: float


async def _create(
    db: Queries, kind: str, owner: dict[str, int], asked: TokenRequest
) -> tuple[Token, str]:
    """Every token is made here: its lifetime checked against the site's limits, its
    name and scopes by `create_token`, once the caller may make it for `owner`."""
    settings, now = asked["settings"], asked["now"]
    expires_at = tokens.token_expiry(
        asked["expires_in"],
        now=now,
        max_days=settings.token_max_days,
        allow_never=settings.allow_tokens_without_expiry,
    )
    return await tokens.create_token(
        db,
        kind=kind,
        name=asked["name"],
        scopes=asked["scopes"],
        expires_at=expires_at,
        now=now,
        **owner,
    )


def _owned(found: list[Token], token_id: str) -> Token:
    for token in found:
        if token.id == token_id:
            return token
    raise NotFound(f"no token {token_id[:20]!r} here")


async def list_personal_tokens(db: Queries, principal: Principal) -> list[Token]:
    user = require_person(principal)
    return await tokens.list_tokens(db, user_id=user.id)


async def create_personal_token(
    db: Queries, principal: Principal, **asked: Unpack[TokenRequest]
) -> tuple[Token, str]:
    """An API token for the person calling, which acts as them within its scopes."""
    user = require_person(principal, change=True)
    return await _create(db, "personal", {"user_id": user.id}, asked)


async def list_sessions(db: Queries, principal: Principal, *, now: float) -> list[Session]:
    """The person's own UI sessions and refresh tokens that have not expired."""
    user = require_person(principal)
    return await sessions.list_sessions(db, user_id=user.id, now=now)


async def revoke_personal_token(
    db: Queries, principal: Principal, token_id: str, *, now: float
) -> None:
    """Revoke one of the person's API tokens, or end one of their sessions or refresh
    tokens (the ids of both are listed together)."""
    user = require_person(principal, change=True)
    owned = await tokens.list_tokens(db, user_id=user.id)
    is_token = any(token.id == token_id for token in owned)
    if not is_token and await sessions.end_session(db, token_id, user_id=user.id):
        return
    _owned(owned, token_id)
    await tokens.revoke_token(db, token_id, now=now)


Holder = Literal["repository", "workspace"]


async def _holder(db: Queries, principal: Principal, kind: Holder, name: str) -> dict[str, int]:
    """The column that names an access token's holder, once the principal may manage its
    tokens: admin of the repository `WORKSPACE/REPO`, or owner of the workspace `SLUG`."""
    if kind == "repository":
        require_person(principal, change=True)
        repository, _ = await require_repository(db, principal, name, Role.ADMIN)
        return {"repository_id": repository.id}
    found = await require_workspace(db, principal, name, owner=True, change=True)
    return {"workspace_id": found.workspace_id}


async def list_access_tokens(
    db: Queries, principal: Principal, kind: Holder, name: str
) -> list[Token]:
    """The access tokens of a repository or workspace."""
    return await tokens.list_tokens(db, **await _holder(db, principal, kind, name))


async def create_access_token(
    db: Queries, principal: Principal, kind: Holder, holder: str, **asked: Unpack[TokenRequest]
) -> tuple[Token, str]:
    """An access token acting, as a robot, on a repository's or workspace's packages."""
    owner = await _holder(db, principal, kind, holder)  # who may, before what is asked
    return await _create(db, kind, owner, asked)


async def revoke_access_token(
    db: Queries, principal: Principal, kind: Holder, holder: str, token_id: str, *, now: float
) -> None:
    owned = await tokens.list_tokens(db, **await _holder(db, principal, kind, holder))
    _owned(owned, token_id)
    await tokens.revoke_token(db, token_id, now=now)
