"""Checking credentials, with failed attempts slowed and then refused.

Failures are counted per account and per client address in the database, so
every node of a cluster sees the same count.
"""

from __future__ import annotations

import asyncio
import math

from cargohold.services.accounts import directory, tokens
from cargohold.services.accounts.principals import Principal
from cargohold.services.context import Context
from cargohold.services.errors import ServiceError


class LoginFailed(ServiceError):
    """Wrong credentials (or an expired or revoked token)."""

    status = 401


class TooManyAttempts(ServiceError):
    """Failed logins are refused for `retry_after` seconds, which `Retry-After` says."""

    status = 429

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"too many failed logins; try again in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


async def _blocked_for(ctx: Context, keys: list[str]) -> int:
    now = ctx.now()
    worst = 0.0
    for key in keys:
        row = await ctx.db.fetchone(
            "SELECT blocked_until FROM login_failures WHERE key = :k", {"k": key}
        )
        if row is not None and row["blocked_until"] > now:
            worst = max(worst, row["blocked_until"] - now)
    return math.ceil(worst)


async def _record_failure(ctx: Context, keys: list[str]) -> int:
    """Count a failure; returns the highest count among the keys."""
    now = ctx.now()
    settings = ctx.settings
    highest = 0
    async with ctx.db.transaction() as tx:
        for key in keys:
            row = await tx.fetchone(
                "SELECT failures, first_at FROM login_failures WHERE key = :k", {"k": key}
            )
            if row is None or row["first_at"] < now - settings.login_failure_window:
                failures, first_at = 1, now
            else:
                failures, first_at = int(row["failures"]) + 1, row["first_at"]
            blocked_until = (
                now + settings.login_block_seconds
                if (failures >= settings.login_max_failures)
                else 0.0
            )
            await tx.execute(
                "INSERT INTO login_failures (key, failures, first_at, blocked_until)"
                " VALUES (:k, :f, :first, :b) ON CONFLICT (key) DO UPDATE SET"
                " failures = excluded.failures, first_at = excluded.first_at,"
                " blocked_until = excluded.blocked_until",
                {"k": key, "f": failures, "first": first_at, "b": blocked_until},
            )
            highest = max(highest, failures)
    return highest


async def _clear(ctx: Context, key: str) -> None:
    await ctx.db.execute("DELETE FROM login_failures WHERE key = :k", {"k": key})


async def authenticate(
    ctx: Context, *, username: str, secret: str, address: str | None
) -> Principal:
    """The principal for Basic credentials: email + API token (any name for an access
    token), or email + password where the site allows it."""
    keys = [f"account:{username.strip().lower()[:320]}"]
    if address:
        keys.append(f"address:{address[:64]}")
    blocked = await _blocked_for(ctx, keys)
    if blocked:
        raise TooManyAttempts(blocked)
    principal = await _check(ctx, username, secret)
    if principal is None:
        failures = await _record_failure(ctx, keys)
        await asyncio.sleep(min(0.05 * failures, 1.0))
        if failures >= ctx.settings.login_max_failures:
            raise TooManyAttempts(ctx.settings.login_block_seconds)
        raise LoginFailed("wrong email or token, or the token has expired or been revoked")
    await _clear(ctx, keys[0])
    return principal


async def _check(ctx: Context, username: str, secret: str) -> Principal | None:
    now = ctx.now()
    if tokens.looks_like_token(secret):
        token = await tokens.check_token(ctx.db, secret, now=now)
        if token is None:
            return None
        if token.kind != "personal":
            return Principal(token=token)
        assert token.user_id is not None
        user = await directory.get_user(ctx.db, token.user_id)
        if user.email != username.strip().lower():
            return None
        return Principal(user=user, token=token)
    if not ctx.settings.password_login:
        return None
    person = await directory.check_password(ctx.db, email=username, password=secret)
    return Principal(user=person) if person is not None else None
