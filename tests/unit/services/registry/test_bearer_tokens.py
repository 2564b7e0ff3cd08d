"""Bearer tokens are verified once per token and process, never past their expiry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest

from cargohold.authz.errors import TokenInvalid
from cargohold.authz.scopes import parse_resource_scope
from cargohold.config import Settings
from cargohold.services.accounts.principals import ANONYMOUS
from cargohold.services.context import Context, open_context
from cargohold.services.registry import bearer_tokens


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[Context]:
    context = open_context(Settings(data_dir=tmp_path, auth="token", token_lifetime=60))
    yield context
    await context.db.close()


async def test_a_verified_token_is_served_from_the_cache(ctx: Context) -> None:
    issued = await bearer_tokens.issue(ctx, ANONYMOUS, [], offline=False)
    first = bearer_tokens.verify(ctx, issued.token)
    assert bearer_tokens.verify(ctx, issued.token) is first
    assert list(ctx.verified_tokens) == [issued.token]


async def test_a_cached_token_is_refused_once_it_expires(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = await bearer_tokens.issue(ctx, ANONYMOUS, [], offline=False)
    bearer_tokens.verify(ctx, issued.token)
    later = ctx.now() + 61
    monkeypatch.setattr(ctx, "now", lambda: later)
    with pytest.raises(TokenInvalid):
        bearer_tokens.verify(ctx, issued.token)
    assert issued.token not in ctx.verified_tokens


async def test_an_altered_token_is_never_cached(ctx: Context) -> None:
    issued = await bearer_tokens.issue(
        ctx, ANONYMOUS, [parse_resource_scope("repository:acme/web:pull")], offline=False
    )
    header, payload, signature = issued.token.split(".")
    forged = ".".join(
        [header, payload, signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")]
    )
    with pytest.raises(TokenInvalid):
        bearer_tokens.verify(ctx, forged)
    assert forged not in ctx.verified_tokens


async def test_a_token_signed_by_another_key_is_refused(ctx: Context, tmp_path: Path) -> None:
    other = open_context(Settings(data_dir=tmp_path / "other", auth="token"))
    issued = await bearer_tokens.issue(other, ANONYMOUS, [], offline=False)
    bearer_tokens.verify(other, issued.token)
    await other.db.close()
    with pytest.raises(TokenInvalid):
        bearer_tokens.verify(ctx, issued.token)
    assert jwt.get_unverified_header(issued.token)["alg"] == "EdDSA"
