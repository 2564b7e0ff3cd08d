"""Delivering events to webhooks, in every node (docs/webhooks.md).

Two steps, each safe to run on any number of nodes at once:

1. **Fan-out** (fanout.py) queues one delivery per endpoint that wants each new event.
2. **Sending**: a node takes an endpoint's lease (columns of `webhooks`, served as
   services/events/leased_queue.py serves every such queue), sends its due deliveries
   oldest first, one at a time, each outside any transaction, and records each result
   before the next. Two nodes never send to one endpoint at once; a node that dies
   mid-delivery leaves the delivery pending and the lease expiring, so it is sent again
   (with the same event id) by whichever node comes next. Delivery is at least once.

A failed attempt is retried with exponential back-off and jitter for `webhook_retry_for`
seconds on timeouts, connection errors, 5xx, 408 and 429 (whose `Retry-After` is kept);
any other answer (a redirect, another 4xx) or a refused address fails it at once. While an
endpoint backs off, its other deliveries wait too. After `webhook_max_failures` failed
attempts in a row an endpoint is turned off, with the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from cargohold import __version__
from cargohold.config import Settings
from cargohold.metadata.db import Database, Queries
from cargohold.services import outbound, sealing
from cargohold.services.events import cursors
from cargohold.services.events.leased_queue import (
    LeasedQueue,
    holder_name,
    jittered_backoff,
    poll_forever,
    serve_each,
)
from cargohold.services.events.webhooks import deliveries, endpoints, fanout
from cargohold.services.events.webhooks.deliveries import DELIVERED, FAILED, PENDING, Delivery
from cargohold.services.events.webhooks.endpoints import Webhook
from cargohold.services.events.webhooks.formats import Source

log = logging.getLogger("cargohold.webhooks")

MAX_BACKOFF = 3600.0
RESPONSE_LIMIT = 16 * 1024
PRUNE_INTERVAL = 3600.0
USER_AGENT = f"Cargohold-Webhooks/{__version__}"
RETRIED_STATUSES = frozenset({408, 429})
QUEUE = LeasedQueue(
    owners="webhooks",
    items="webhook_deliveries",
    owner_column="webhook_id",
    select_items=deliveries.DELIVERY_SELECT,
)


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """`Cargohold-Signature`: `t=UNIX_SECONDS,v1=HEX`, HEX the HMAC-SHA256 of
    `"{t}.{body}"` with the endpoint's secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def policy_of(settings: Settings) -> outbound.Policy:
    timeout = settings.webhook_timeout
    return outbound.Policy(
        allowed_networks=outbound.parse_networks(settings.webhook_allowed_networks),
        resolve_timeout=min(3.0, timeout),
        connect_timeout=min(3.0, timeout),
        read_timeout=timeout,
        total_timeout=timeout,
        max_response_bytes=RESPONSE_LIMIT,
        overflow="truncate",
    )


def source_of(settings: Settings, instance: str) -> Source:
    return Source(
        url=settings.public_url, addr=f"{socket.gethostname()}:{settings.port}", instance=instance
    )


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one attempt went."""

    delivered: bool
    retry: bool  # worth trying again later
    status: int | None = None
    error: str | None = None
    seconds: float = 0.0
    retry_after: float | None = None


def judge(reply: outbound.Reply) -> Attempt:
    """2xx delivered; 408, 429 and 5xx worth retrying; anything else (redirects included,
    which are never followed) failed for good."""
    status = reply.status
    if 200 <= status < 300:
        return Attempt(True, False, status, None, reply.seconds)
    retry = status >= 500 or status in RETRIED_STATUSES
    if 300 <= status < 400:
        where = outbound.redact(reply.headers.get("location", ""))
        error = (
            f"answered {status}, a redirect to {where or '(nowhere)'}: redirects are not followed"
        )
    else:
        error = f"answered {status}"
    return Attempt(False, retry, status, error, reply.seconds, _retry_after(reply))


def _retry_after(reply: outbound.Reply) -> float | None:
    value = reply.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def backoff(settings: Settings, attempts: int, retry_after: float | None = None) -> float:
    """Seconds before the next attempt after `attempts` failed ones: doubling from
    `webhook_retry_initial` up to an hour, each between half and all of that (jitter), or
    what the receiver's Retry-After asks when that is longer."""
    wait = jittered_backoff(
        first=settings.webhook_retry_initial, longest=MAX_BACKOFF, attempts=attempts
    )
    if retry_after is not None:
        wait = max(wait, min(retry_after, MAX_BACKOFF))
    return wait


@dataclass
class Deliverer:
    """One process's share of webhook delivery."""

    db: Database
    settings: Settings
    key: bytes  # opens the endpoints' sealed secrets
    holder: str = field(default_factory=holder_name)
    _pruned_at: float = 0.0

    def __post_init__(self) -> None:
        self.policy = policy_of(self.settings)
        self.source = source_of(self.settings, self.holder)

    @property
    def lease_seconds(self) -> float:
        """Long enough for one attempt and its bookkeeping; renewed before every attempt."""
        return 2 * self.settings.webhook_timeout + 5

    # ----------------------------------------------------------------------- sending

    async def send_due(self, now: float, *, concurrency: int = 8) -> int:
        """Serve every endpoint with a delivery due and no other node serving it; how many
        attempts were made."""
        due = await QUEUE.owners_due(self.db, holder=self.holder, now=now)
        return await serve_each(due, self.serve_endpoint, concurrency=concurrency)

    async def serve_endpoint(self, webhook_id: int, *, budget: int = 100) -> int:
        """Under the endpoint's lease, send its due deliveries one at a time, oldest first,
        until none is due, it backs off, or `budget` attempts were made."""
        made = 0
        try:
            while made < budget:
                taken = await self._take(webhook_id)
                if taken is None:
                    break
                hook, secret, delivery = taken
                now = time.time()
                if now > delivery.created_at + self.settings.webhook_retry_for:
                    await self._give_up(delivery, now)
                    continue
                attempt = await self.attempt(hook, secret, delivery)
                await self._record(hook, delivery, attempt)
                made += 1
        finally:
            await QUEUE.release(self.db, webhook_id, holder=self.holder)
        return made

    async def _take(self, webhook_id: int) -> tuple[Webhook, str, Delivery] | None:
        """Take (or renew) the endpoint's lease and its oldest due delivery; None when
        another node holds it, it is off or backing off, or nothing is due."""
        now = time.time()
        async with self.db.transaction() as tx:
            found = await QUEUE.take(
                tx, webhook_id, holder=self.holder, now=now, seconds=self.lease_seconds
            )
            if found is None:
                return None
            row = await tx.fetchone(
                "SELECT w.id, w.workspace_id, w.secret FROM webhooks w WHERE w.id = :id",
                {"id": webhook_id},
            )
            if row is None:
                return None
            hook = await endpoints.get_webhook(
                tx, workspace_id=int(row["workspace_id"]), webhook_id=webhook_id
            )
        try:
            secret = sealing.unseal(self.key, row["secret"], endpoints.SECRET_PURPOSE)
        except sealing.Unsealable:
            await self._turn_off(hook, "its secret cannot be opened with this registry's key")
            return None
        return hook, secret, deliveries.delivery_of(found)

    async def attempt(self, hook: Webhook, secret: str, delivery: Delivery) -> Attempt:
        """One attempt, outside any transaction."""
        body = delivery.payload.encode()
        headers = {
            "Content-Type": delivery.content_type,
            "User-Agent": USER_AGENT,
            "Cargohold-Event": delivery.action,
            "Cargohold-Event-Id": str(delivery.event_id),
            "Cargohold-Delivery": str(delivery.id),
            "Cargohold-Signature": signature(secret, body, int(time.time())),
        }
        started = time.monotonic()
        try:
            reply = await outbound.request(
                "POST", hook.url, policy=self.policy, headers=headers, content=body
            )
        except outbound.OutboundError as exc:
            retry = not isinstance(exc, outbound.Refused)
            return Attempt(False, retry, None, exc.message, time.monotonic() - started)
        return judge(reply)

    async def _record(self, hook: Webhook, delivery: Delivery, attempt: Attempt) -> None:
        now = time.time()
        attempts = delivery.attempts + 1
        state, due, hook_retry = DELIVERED, None, None
        error = attempt.error
        if not attempt.delivered:
            state = FAILED
            if attempt.retry:
                wait = backoff(self.settings, attempts, attempt.retry_after)
                if now + wait <= delivery.created_at + self.settings.webhook_retry_for:
                    state, due, hook_retry = PENDING, now + wait, now + wait
                else:
                    error = f"{error}; gave up after {attempts} attempts"
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE webhook_deliveries SET state = :state, attempts = :attempts,"
                " next_attempt_at = :due, last_attempt_at = :now, response_status = :status,"
                " duration_ms = :ms, error = :error WHERE id = :id",
                {
                    "state": state,
                    "attempts": attempts,
                    "due": due,
                    "now": now,
                    "status": attempt.status,
                    "ms": round(attempt.seconds * 1000),
                    "error": error,
                    "id": delivery.id,
                },
            )
            if attempt.delivered:
                await tx.execute(
                    "UPDATE webhooks SET failures = 0, retry_at = NULL WHERE id = :id",
                    {"id": hook.id},
                )
                return
            await tx.execute(
                "UPDATE webhooks SET failures = failures + 1, retry_at = :retry WHERE id = :id",
                {"retry": hook_retry, "id": hook.id},
            )
            row = await tx.fetchone("SELECT failures FROM webhooks WHERE id = :id", {"id": hook.id})
            failures = int(row["failures"]) if row is not None else 0
            if failures >= self.settings.webhook_max_failures:
                await _switch_off(
                    tx,
                    hook.id,
                    f"turned off after {failures} failed deliveries in a row; the last: {error}",
                    now,
                )
        log.info(
            "webhook %d: delivery %d of event %d (%s) %s",
            hook.id,
            delivery.id,
            delivery.event_id,
            delivery.action,
            "delivered" if attempt.delivered else f"failed: {error}",
        )

    async def _give_up(self, delivery: Delivery, now: float) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE webhook_deliveries SET state = :failed, next_attempt_at = NULL,"
                " error = :error WHERE id = :id AND state = :pending",
                {
                    "failed": FAILED,
                    "pending": PENDING,
                    "error": (delivery.error or "not delivered")
                    + f"; gave up after {self.settings.webhook_retry_for} s",
                    "id": delivery.id,
                },
            )

    async def _turn_off(self, hook: Webhook, reason: str) -> None:
        async with self.db.transaction() as tx:
            await _switch_off(tx, hook.id, reason, time.time())

    # ----------------------------------------------------------------------- upkeep

    async def prune(self, now: float) -> int:
        """Delete finished deliveries older than `webhook_history_days`."""
        before = now - self.settings.webhook_history_days * 86400
        async with self.db.transaction() as tx:
            return await QUEUE.prune(tx, before=before)

    async def run_once(self) -> int:
        """One round: fan out, send what is due; how much work there was."""
        work = await cursors.read_all(lambda: fanout.fan_out(self.db, self.source, time.time()))
        work += await self.send_due(time.time())
        now = time.time()
        if now - self._pruned_at > PRUNE_INTERVAL:
            self._pruned_at = now
            await self.prune(now)
        return work

    async def run_forever(self) -> None:
        """Every `webhook_poll_interval` seconds (at once again while there is work)."""
        await poll_forever(
            self.run_once,
            interval=self.settings.webhook_poll_interval,
            log=log,
            what="webhook delivery",
        )


# --------------------------------------------------------------------------- helpers


async def _switch_off(tx: Queries, webhook_id: int, reason: str, now: float) -> None:
    await tx.execute(
        "UPDATE webhooks SET active = :off, disabled_reason = :reason, retry_at = NULL,"
        " updated_at = :now WHERE id = :id",
        {"off": False, "reason": reason[:2000], "now": now, "id": webhook_id},
    )
    log.warning("webhook %d %s", webhook_id, reason)
