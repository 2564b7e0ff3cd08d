"""Checking credentials: tokens at once, passwords off the event loop and rate limited.

Tokens are high-entropy secrets: one is checked with a hash and an indexed lookup, a
wrong one is answered 401, and a valid one is never refused because of anyone's failed
logins. Passwords are guessable, so every password attempt is counted first, in the
database (every node of a cluster sees the same counts), under two keys:

- the account *and* the client address (`pair:`): after `login_max_failures` attempts
  that did not succeed, the pair is blocked for `login_block_seconds`; each further
  failure after a block doubles it, up to `login_block_max_seconds`. A right password
  clears the pair. So someone guessing one person's password from one place shuts out
  only themselves, never the person logging in from elsewhere.
- the client address alone (`address:`), whatever the account and whether the password
  was right: at most `login_address_max_attempts` per `login_failure_window`, so neither
  guesses spread over many accounts nor a flood of right passwords can take over the
  machine. IPv6 addresses count by their /64 network.

An attempt is counted before its password is checked, so concurrent attempts cannot
slip past a limit. The attempt that reaches a limit is answered as usual (401 when the
password was wrong); the attempts after it, while blocked, get `TooManyAttempts` (429
with `Retry-After`) without a password check.

Checking a password is an argon2 verification: a few hundred milliseconds of CPU. It
runs in a thread pool of `password_check_threads` per process, never on the event loop;
while `password_check_queue` more are already waiting, further attempts are answered 503
at once. An email that has no account (or no password) costs one verification too,
against a dummy hash with the same parameters, so the time of an answer does not tell
which accounts exist.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import threading
from collections.abc import Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from cargohold import metrics
from cargohold.config import Settings
from cargohold.metadata.db import Queries, Row
from cargohold.oci.errors import Unavailable
from cargohold.services.accounts import directory, federation, tokens
from cargohold.services.accounts.principals import Principal
from cargohold.services.context import Context
from cargohold.services.errors import ServiceError
from cargohold.services.events import actors, outbox


class LoginFailed(ServiceError):
    """Wrong credentials (or an expired or revoked token)."""

    status = 401


class TooManyAttempts(ServiceError):
    """Password logins are refused for `retry_after` seconds, which `Retry-After` says."""

    status = 429

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"too many password logins; try again in {retry_after} s, or log in with an API token",
            headers={"Retry-After": str(retry_after)},
        )


async def authenticate(
    ctx: Context,
    *,
    username: str,
    secret: str,
    address: str | None,
    workspaces: Collection[str] | None = None,
) -> Principal:
    """The principal for Basic credentials: email + API token (any name for an access
    token), or email + password where the site allows it. Counted for the metrics
    (`cargohold_logins_total`): accepted, refused, or throttled."""
    credential = "token" if tokens.looks_like_token(secret) else "password"
    if credential == "password" and federation.is_oidc_login(username):
        credential = "oidc"
    try:
        principal = await _authenticate(ctx, username, secret, address, workspaces)
    except TooManyAttempts:
        metrics.count_login(credential, "throttled")
        raise
    except LoginFailed:
        metrics.count_login(credential, "refused")
        raise
    metrics.count_login(credential, "accepted")
    return principal


async def _authenticate(
    ctx: Context,
    username: str,
    secret: str,
    address: str | None,
    workspaces: Collection[str] | None,
) -> Principal:
    if tokens.looks_like_token(secret):
        principal = await _check_token(ctx, username, secret)
        if principal is None:
            raise LoginFailed("wrong email or token, or the token has expired or been revoked")
        return principal
    if federation.is_oidc_login(username):  # `oidc` + an ID token: keyless CI, matched
        # against the trust policies of `workspaces` (every workspace when None)
        try:
            return await federation.login(
                ctx.db,
                ctx.federation,
                ctx.settings,
                secret,
                workspaces=workspaces,
                now=ctx.now(),
            )
        except federation.Refused as exc:
            raise LoginFailed(f"the ID token is refused: {exc.message}") from None
    if not ctx.settings.password_login:
        raise LoginFailed("this registry takes API tokens only: log in with email and token")
    return await _check_password(ctx, username, secret, address)


async def _check_token(ctx: Context, username: str, secret: str) -> Principal | None:
    token = await tokens.check_token(ctx.db, secret, now=ctx.now())
    if token is None:
        return None
    if token.kind != "personal":
        return Principal(token=token)
    assert token.user_id is not None
    user = await directory.get_user(ctx.db, token.user_id)
    if user.email != username.strip().lower():
        return None
    return Principal(user=user, token=token)


async def _check_password(
    ctx: Context, username: str, password: str, address: str | None
) -> Principal:
    checks = _password_checks(ctx.settings)
    checks.refuse_when_busy()  # before counting: a busy server is not the client's failure
    email = username.strip().lower()[:320]
    place = _place(address)
    pair = _Limit(f"pair:{place}|{email}", ctx.settings.login_max_failures, backoff=True)
    limits = [pair]
    if place != "-":
        limits.append(_Limit(f"address:{place}", ctx.settings.login_address_max_attempts))
    await _count_attempt(ctx, limits)
    user, password_hash = await directory.find_password_hash(ctx.db, email)
    matches = await checks.verify(password_hash, password)  # also when there is no user
    if user is None or not matches:
        async with ctx.db.transaction() as tx:  # no change to go with: it stands alone
            await _record_sign_in(tx, ctx, email, None, address)
        raise LoginFailed("wrong email or password (or log in with an API token instead)")
    async with ctx.db.transaction() as tx:
        await tx.execute("DELETE FROM login_failures WHERE key = :k", {"k": pair.key})
        await _record_sign_in(tx, ctx, email, user, address)
    return Principal(user=user)


async def _record_sign_in(
    tx: Queries, ctx: Context, email: str, user: directory.User | None, address: str | None
) -> None:
    """`signin.succeeded` as the person, or `signin.failed` (outcome refused) as anonymous
    with the email that was tried: every password sign-in (the UI, /token, Basic on /v2)."""
    here = actors.current()
    who = actors.Actor(
        actors.USER if user else actors.ANONYMOUS,
        id=str(user.id) if user else None,
        name=user.email if user else email,
        client_address=address or here.client_address,
        request_id=here.request_id,
    )
    await outbox.record(
        tx,
        "signin.succeeded" if user else "signin.failed",
        outcome=outbox.OK if user else outbox.REFUSED,
        target=f"password sign-in as {email}",
        actor=who,
        at=ctx.now(),
    )


def _place(address: str | None) -> str:
    """Where an attempt comes from: the address, or its /64 network for IPv6."""
    if not address:
        return "-"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


@dataclass(frozen=True, slots=True)
class _Limit:
    key: str
    most: int  # attempts counted before the key is blocked
    backoff: bool = False  # pair: blocks double; address: a fixed window


def _forgotten(limit: _Limit, row: Row, now: float, settings: Settings) -> bool:
    """A count lapses `login_failure_window` after its first attempt, and for a pair,
    also not before that long after its last block ended."""
    since = float(row["first_at"])
    if limit.backoff:
        since = max(since, float(row["blocked_until"]))
    return now >= since + settings.login_failure_window


def _blocked_until(limit: _Limit, count: int, first_at: float, now: float, s: Settings) -> float:
    if count < limit.most:
        return 0.0
    if not limit.backoff:
        return first_at + s.login_failure_window
    doublings = min(count - limit.most, 32)
    longest = max(s.login_block_max_seconds, s.login_block_seconds)
    return now + min(s.login_block_seconds << doublings, longest)


async def _count_attempt(ctx: Context, limits: list[_Limit]) -> None:
    """Count one password attempt under every key, or raise `TooManyAttempts` (counting
    nothing) while one of them is blocked. The rows are locked while they are read, so
    concurrent attempts on any node are counted one after the other."""
    now = ctx.now()
    limits = sorted(limits, key=lambda limit: limit.key)  # one lock order everywhere
    async with ctx.db.transaction() as tx:
        rows = [await _locked_row(tx, limit.key, now) for limit in limits]
        blocked = max(float(row["blocked_until"]) for row in rows)
        if blocked > now:
            raise TooManyAttempts(max(1, math.ceil(blocked - now)))
        for limit, row in zip(limits, rows, strict=True):
            if _forgotten(limit, row, now, ctx.settings) or int(row["failures"]) == 0:
                count, first_at = 1, now
            else:
                count, first_at = int(row["failures"]) + 1, float(row["first_at"])
            await tx.execute(
                "UPDATE login_failures SET failures = :f, first_at = :first, blocked_until = :b"
                " WHERE key = :k",
                {
                    "k": limit.key,
                    "f": count,
                    "first": first_at,
                    "b": _blocked_until(limit, count, first_at, now, ctx.settings),
                },
            )


async def forget_lapsed(db: Queries, settings: Settings, *, now: float) -> int:
    """Delete the attempt counts that have lapsed (counted again from zero anyway): a
    window past their first attempt and past their last block; how many."""
    return await db.execute(
        "DELETE FROM login_failures WHERE first_at < :lapsed AND blocked_until < :lapsed",
        {"lapsed": now - settings.login_failure_window},
    )


async def _locked_row(tx: Queries, key: str, now: float) -> Row:
    await tx.execute(
        "INSERT INTO login_failures (key, failures, first_at, blocked_until)"
        " VALUES (:k, 0, :now, 0) ON CONFLICT (key) DO NOTHING",
        {"k": key, "now": now},
    )
    row = await tx.fetchone(
        "SELECT failures, first_at, blocked_until FROM login_failures WHERE key = :k"
        + tx.for_update,
        {"k": key},
    )
    assert row is not None
    return row


class _PasswordChecks:
    """Argon2 verifications in threads of their own, `threads` at a time, with at most
    `queue` more waiting; the event loop only waits for the answer."""

    def __init__(self, threads: int, queue: int) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="cargohold-password")
        self._most = threads + queue
        self._pending = 0  # submitted and not finished, whatever became of their requests
        self._lock = threading.Lock()

    def refuse_when_busy(self) -> None:
        with self._lock:
            self._refuse_when_full()

    async def verify(self, password_hash: str | None, password: str) -> bool:
        with self._lock:
            self._refuse_when_full()
            self._pending += 1
        future: Future[bool] = self._pool.submit(
            directory.password_matches, password_hash, password
        )
        future.add_done_callback(self._done)
        return await asyncio.wrap_future(future)

    def _refuse_when_full(self) -> None:
        if self._pending >= self._most:
            metrics.count_login("password", "busy")
            raise Unavailable(
                "too many password logins are being checked; try again in a moment, or log"
                " in with an API token",
                headers={"Retry-After": "1"},
            )

    def _done(self, _: Future[bool]) -> None:
        with self._lock:
            self._pending -= 1


_CHECKS: dict[tuple[int, int], _PasswordChecks] = {}
_CHECKS_LOCK = threading.Lock()


def _password_checks(settings: Settings) -> _PasswordChecks:
    """The process's pool for these settings (one per process in a server)."""
    size = (settings.password_check_threads, settings.password_check_queue)
    with _CHECKS_LOCK:
        checks = _CHECKS.get(size)
        if checks is None:
            checks = _CHECKS[size] = _PasswordChecks(*size)
        return checks
