"""Request-scoped dependencies, as named aliases: `CurrentContext`, `CurrentPrincipal`,
`DbTx`, `PageQuery`.

Every dependency is `async def`: FastAPI runs a plain `def` in a thread pool, and
that hop would let other requests run statements on the connection while this
request's transaction is open (a transaction may contain database calls only)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query
from starlette.requests import Request

from cargohold.metadata.db import Queries
from cargohold.metadata.schema import MAX_BIG_ID, MAX_ID
from cargohold.services.accounts import logins, principals, tokens
from cargohold.services.accounts.principals import ANONYMOUS, Principal
from cargohold.services.context import Context
from cargohold.services.errors import Unauthenticated
from cargohold.web import observe
from cargohold.web.actors import identify_principal


async def _context(request: Request) -> Context:
    ctx: Context = request.app.state.context
    return ctx


CurrentContext = Annotated[Context, Depends(_context)]


def _basic(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8 once decoded
        raise Unauthenticated("malformed Basic credentials") from None
    username, sep, secret = decoded.partition(":")
    if not sep:
        raise Unauthenticated("malformed Basic credentials")
    return username, secret


async def _principal(request: Request, ctx: CurrentContext) -> Principal:
    """Who is asking (noted for the request's log line)."""
    principal = await _find_principal(request, ctx)
    observe.note_principal(request, principal)
    return principal


async def _find_principal(request: Request, ctx: Context) -> Principal:
    """Who is asking: `Bearer <API or access token>`, Basic email + API token, or nobody.

    Runs outside the request's transaction. Only tokens are taken here, and a wrong
    token is just 401: token logins are never rate limited."""
    header = request.headers.get("authorization")
    if not header:
        return ANONYMOUS
    kind, _, value = header.strip().partition(" ")
    value = value.strip()
    if kind.lower() == "bearer" and value:
        principal = await principals.principal_for_token(ctx.db, value, now=ctx.now())
        if principal is None:
            raise Unauthenticated("the token is not valid, has expired or has been revoked")
        return principal
    if kind.lower() == "basic" and value:
        username, secret = _basic(value)
        if not tokens.looks_like_token(secret):
            raise Unauthenticated(
                "the API takes an email address with an API token, not a password"
            )
        address = request.client.host if request.client else None
        return await logins.authenticate(ctx, username=username, secret=secret, address=address)
    raise Unauthenticated("unsupported Authorization header; use Bearer or Basic with an API token")


CurrentPrincipal = Annotated[Principal, Depends(_principal)]


async def _transaction(ctx: CurrentContext, principal: CurrentPrincipal) -> AsyncIterator[Queries]:
    """One transaction per request. It opens once the caller is known (so a failed login
    never waits on it), rolls back when the operation raises, and commits when the
    operation returns, before the response is sent. What it changes is recorded as done
    by the principal (services/events)."""
    identify_principal(principal)
    async with ctx.db.transaction() as tx:
        yield tx


DbTx = Annotated[Queries, Depends(_transaction, scope="function")]


RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
"""A path's id of a row keyed by an `Integer` (a webhook): out of range is a 422, not a 500."""
BigRowId = Annotated[int, Path(ge=1, le=MAX_BIG_ID)]
"""A path's id of a row keyed by a `BigInteger` (a delivery)."""


@dataclass(frozen=True, slots=True)
class Page:
    limit: int
    after: str | None


async def _page(
    ctx: CurrentContext,
    limit: Annotated[int, Query(ge=1, description="At most this many items.")] = 100,
    after: Annotated[
        str | None, Query(max_length=256, description="Start after this item (`next_after`).")
    ] = None,
) -> Page:
    return Page(min(limit, ctx.settings.page_size_max), after)


PageQuery = Annotated[Page, Depends(_page)]


def location(request: Request, path: str) -> str:
    """The address of a resource of this API, for a `Location` header."""
    return f"{request.scope.get('root_path', '')}{path}"
