"""API tokens and access tokens, as their owners manage them.

A person manages their own API tokens; repository admins manage a repository's
access tokens, workspace owners a workspace's. Every change needs a personal token
with the admin:package scope, so a token never makes a broader one. The secret
text is returned once, by the create use cases, and never stored.
"""

from __future__ import annotations

from cargohold.authz.roles import Role
from cargohold.config import Settings
from cargohold.metadata.db import Queries
from cargohold.services import tokens
from cargohold.services.access import (
    Principal,
    require_person,
    require_repository,
    require_workspace,
)
from cargohold.services.errors import NotFound
from cargohold.services.tokens import Token


def _expiry(settings: Settings, text: str | None, now: float) -> float | None:
    return tokens.token_expiry(
        text,
        now=now,
        max_days=settings.token_max_days,
        allow_never=settings.allow_tokens_without_expiry,
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
    db: Queries,
    principal: Principal,
    *,
    name: str,
    scopes: list[str],
    expires_in: str | None,
    settings: Settings,
    now: float,
) -> tuple[Token, str]:
    user = require_person(principal, change=True)
    return await tokens.create_token(
        db,
        kind="personal",
        name=name,
        scopes=scopes,
        expires_at=_expiry(settings, expires_in, now),
        now=now,
        user_id=user.id,
    )


async def revoke_personal_token(
    db: Queries, principal: Principal, token_id: str, *, now: float
) -> None:
    user = require_person(principal, change=True)
    _owned(await tokens.list_tokens(db, user_id=user.id), token_id)
    await tokens.revoke_token(db, token_id, now=now)


async def _repository_id(db: Queries, principal: Principal, full_name: str) -> int:
    require_person(principal, change=True)
    repository, _ = await require_repository(db, principal, full_name, Role.ADMIN)
    return repository.id


async def list_repository_tokens(db: Queries, principal: Principal, full_name: str) -> list[Token]:
    repository_id = await _repository_id(db, principal, full_name)
    return await tokens.list_tokens(db, repository_id=repository_id)


async def create_repository_token(
    db: Queries,
    principal: Principal,
    full_name: str,
    *,
    name: str,
    scopes: list[str],
    expires_in: str | None,
    settings: Settings,
    now: float,
) -> tuple[Token, str]:
    repository_id = await _repository_id(db, principal, full_name)
    return await tokens.create_token(
        db,
        kind="repository",
        name=name,
        scopes=scopes,
        expires_at=_expiry(settings, expires_in, now),
        now=now,
        repository_id=repository_id,
    )


async def revoke_repository_token(
    db: Queries, principal: Principal, full_name: str, token_id: str, *, now: float
) -> None:
    repository_id = await _repository_id(db, principal, full_name)
    _owned(await tokens.list_tokens(db, repository_id=repository_id), token_id)
    await tokens.revoke_token(db, token_id, now=now)


async def _workspace_id(db: Queries, principal: Principal, slug: str) -> int:
    return (await require_workspace(db, principal, slug, owner=True, change=True)).workspace_id


async def list_workspace_tokens(db: Queries, principal: Principal, slug: str) -> list[Token]:
    workspace_id = await _workspace_id(db, principal, slug)
    return await tokens.list_tokens(db, workspace_id=workspace_id)


async def create_workspace_token(
    db: Queries,
    principal: Principal,
    slug: str,
    *,
    name: str,
    scopes: list[str],
    expires_in: str | None,
    settings: Settings,
    now: float,
) -> tuple[Token, str]:
    workspace_id = await _workspace_id(db, principal, slug)
    return await tokens.create_token(
        db,
        kind="workspace",
        name=name,
        scopes=scopes,
        expires_at=_expiry(settings, expires_in, now),
        now=now,
        workspace_id=workspace_id,
    )


async def revoke_workspace_token(
    db: Queries, principal: Principal, slug: str, token_id: str, *, now: float
) -> None:
    workspace_id = await _workspace_id(db, principal, slug)
    _owned(await tokens.list_tokens(db, workspace_id=workspace_id), token_id)
    await tokens.revoke_token(db, token_id, now=now)
