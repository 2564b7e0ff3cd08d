"""Webhooks as people manage them (docs/webhooks.md): a workspace's owners manage all its
endpoints; an admin of a package manages the endpoints limited to exactly that package.
Every operation needs a person (never an access token) whose token has `admin:package`,
reading too, since an endpoint's URL and history are an admin's business.

Nobody else sees an endpoint: one you may not manage is 404, as if it did not exist; a
workspace you are no member of and manage nothing in is 404 as well (package_scoped.py,
shared with replication). An endpoint for a glob of packages is an owner's.

Creating an endpoint, or changing its URL, resolves the URL's host and refuses a target the
forgery guard refuses (services/outbound.py); that lookup runs between two transactions,
never inside one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cargohold.metadata.db import Queries
from cargohold.services import outbound, sealing
from cargohold.services.accounts.keys import load_signing_key
from cargohold.services.accounts.principals import Principal
from cargohold.services.context import Context
from cargohold.services.errors import Conflict, Invalid
from cargohold.services.events.webhooks import deliveries, delivery, endpoints
from cargohold.services.events.webhooks.deliveries import Delivery
from cargohold.services.events.webhooks.endpoints import Webhook
from cargohold.services.registry.checked import package_scoped
from cargohold.services.registry.checked.package_scoped import Standing


@dataclass(frozen=True, slots=True)
class Created:
    webhook: Webhook
    secret: str  # shown this once


def sealing_key(ctx: Context) -> bytes:
    """The key that seals endpoints' secrets: from `webhook_secret_key`, else from the
    registry's signing key (which every node shares)."""
    material = ctx.settings.webhook_secret_key
    if material:
        return sealing.derive_key(material.encode(), endpoints.SECRET_PURPOSE)
    key = ctx.signing_key or load_signing_key(ctx.settings)
    return sealing.key_from_signing_key(key, endpoints.SECRET_PURPOSE)


def _exact(packages: str) -> str:
    """The one package a filter names; "" for every package, or a glob of several."""
    return packages if endpoints.is_exact(packages) else ""


async def _require_manage(db: Queries, principal: Principal, ws: Standing, packages: str) -> None:
    """May the principal make an endpoint with this package filter (NotFound, Forbidden)?"""
    await package_scoped.require_manage(
        db,
        principal,
        ws,
        _exact(packages),
        owners_only=f"only owners of workspace {ws.slug} may register webhooks for more than"
        " one package; a package's admins may register webhooks for that package",
        needs_admin="webhooks need admin",
    )


async def _webhook(
    db: Queries, principal: Principal, slug: str, webhook_id: int
) -> tuple[Standing, Webhook]:
    return await package_scoped.find(
        db,
        principal,
        slug,
        get=lambda ws: endpoints.get_webhook(db, workspace_id=ws.id, webhook_id=webhook_id),
        package_of=lambda hook: _exact(hook.packages),
        what=f"webhook {webhook_id}",
    )


async def _check_target(ctx: Context, url: str) -> None:
    """Where the URL leads must pass the forgery guard (outside any transaction)."""
    try:
        await outbound.check(url, delivery.policy_of(ctx.settings))
    except outbound.OutboundError as exc:
        raise Invalid(f"webhook URL {outbound.redact(url)}: {exc.message}") from None


async def list_webhooks(
    db: Queries, principal: Principal, slug: str, *, package: str | None = None
) -> list[Webhook]:
    """The endpoints the principal manages: all of them for an owner. `package`: one the
    caller means to register an endpoint for, whose admins see the list even when it is
    empty and they are no member of the workspace."""
    ws = await package_scoped.standing(db, principal, slug)
    return await package_scoped.managed(
        db,
        principal,
        ws,
        await endpoints.list_webhooks(db, workspace_id=ws.id),
        package_of=lambda hook: _exact(hook.packages),
        asked=lambda: _exact(endpoints.parse_packages(ws.slug, package)) if package else "",
    )


async def show_webhook(db: Queries, principal: Principal, slug: str, webhook_id: int) -> Webhook:
    return (await _webhook(db, principal, slug, webhook_id))[1]


async def create_webhook(
    ctx: Context,
    principal: Principal,
    *,
    workspace: str,
    url: str,
    secret: str | None,
    events: Sequence[str],
    packages: str | None,
    form: str | None,
    active: bool = True,
) -> Created:
    """A new endpoint (and a ping to it): the secret given, or a new one, shown once."""
    url = endpoints.check_url(url)
    wanted = endpoints.parse_events(events)
    form = endpoints.parse_format(form)
    key = endpoints.parse_secret(secret)
    async with ctx.db.transaction() as tx:
        ws = await package_scoped.standing(tx, principal, workspace)
        pattern = endpoints.parse_packages(ws.slug, packages)
        await _require_manage(tx, principal, ws, pattern)
    await _check_target(ctx, url)
    sealed = sealing.seal(sealing_key(ctx), key, endpoints.SECRET_PURPOSE)
    async with ctx.db.transaction() as tx:
        ws = await package_scoped.standing(tx, principal, workspace)
        await _require_manage(tx, principal, ws, pattern)
        hook = await endpoints.create_webhook(
            tx,
            workspace_id=ws.id,
            url=url,
            sealed_secret=sealed,
            events=wanted,
            packages=pattern,
            form=form,
            active=active,
            created_by=principal.display,
            source=delivery.source_of(ctx.settings, "api"),
            now=ctx.now(),
        )
    return Created(hook, key)


async def update_webhook(
    ctx: Context,
    principal: Principal,
    *,
    workspace: str,
    webhook_id: int,
    url: str | None = None,
    secret: str | None = None,
    events: Sequence[str] | None = None,
    packages: str | None = None,
    form: str | None = None,
    active: bool | None = None,
) -> Webhook:
    """Change what is given; a new URL is checked as at creation. Turning an endpoint on
    again clears why it was turned off."""
    url = endpoints.check_url(url) if url is not None else None
    wanted = endpoints.parse_events(events) if events is not None else None
    form = endpoints.parse_format(form) if form is not None else None
    sealed = None
    if secret is not None:
        sealed = sealing.seal(
            sealing_key(ctx), endpoints.parse_secret(secret), endpoints.SECRET_PURPOSE
        )
    async with ctx.db.transaction() as tx:
        ws, hook = await _webhook(tx, principal, workspace, webhook_id)
        pattern = endpoints.parse_packages(ws.slug, packages) if packages is not None else None
        if pattern is not None:
            await _require_manage(tx, principal, ws, pattern)
    if url is not None and url != hook.url:
        await _check_target(ctx, url)
    async with ctx.db.transaction() as tx:
        ws, hook = await _webhook(tx, principal, workspace, webhook_id)
        if pattern is not None:
            await _require_manage(tx, principal, ws, pattern)
        return await endpoints.update_webhook(
            tx,
            hook,
            now=ctx.now(),
            url=url,
            sealed_secret=sealed,
            events=wanted,
            packages=pattern,
            form=form,
            active=active,
        )


async def delete_webhook(
    db: Queries, principal: Principal, slug: str, webhook_id: int, *, now: float
) -> None:
    _, hook = await _webhook(db, principal, slug, webhook_id)
    await endpoints.delete_webhook(db, hook, now=now)


async def list_deliveries(
    db: Queries,
    principal: Principal,
    slug: str,
    webhook_id: int,
    *,
    limit: int,
    before: int | None = None,
) -> tuple[list[Delivery], int | None]:
    """The endpoint's deliveries, newest first (paged by id)."""
    _, hook = await _webhook(db, principal, slug, webhook_id)
    return await deliveries.list_deliveries(db, webhook_id=hook.id, limit=limit, before=before)


async def show_delivery(
    db: Queries, principal: Principal, slug: str, webhook_id: int, delivery_id: int
) -> Delivery:
    _, hook = await _webhook(db, principal, slug, webhook_id)
    return await deliveries.get_delivery(db, webhook_id=hook.id, delivery_id=delivery_id)


async def redeliver(
    db: Queries,
    principal: Principal,
    slug: str,
    webhook_id: int,
    delivery_id: int,
    *,
    now: float,
) -> Delivery:
    """Queue a delivery's event again (same body, same event id), due now."""
    _, hook = await _webhook(db, principal, slug, webhook_id)
    if not hook.active:
        raise Conflict(f"webhook {hook.id} is turned off; turn it on to deliver again")
    found = await deliveries.get_delivery(db, webhook_id=hook.id, delivery_id=delivery_id)
    return await deliveries.redeliver(db, found, now=now)
