"""/workspaces/{ws}/webhooks: endpoints that the workspace's events are sent to, their
delivery history, and redelivering one (docs/webhooks.md). The secret is in the answer to
the creation only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field
from starlette.requests import Request

from cargohold.metadata.schema import MAX_BIG_ID
from cargohold.services.events.webhooks import deliveries, endpoints
from cargohold.services.events.webhooks.deliveries import Delivery
from cargohold.services.events.webhooks.endpoints import Webhook
from cargohold.services.registry.checked import webhooks
from cargohold.web.actors import identify_principal
from cargohold.web.api.deps import (
    BigRowId,
    CurrentContext,
    CurrentPrincipal,
    DbTx,
    RowId,
    location,
)
from cargohold.web.api.models import Body, Items, maybe_timestamp, timestamp
from cargohold.web.api.problems import responses

router = APIRouter(tags=["webhooks"], responses=responses(401, 403, 404, 422))

_BASE = "/workspaces/{workspace}/webhooks"
Format = Literal["cargohold", "cloudevents", "distribution"]
Url = Annotated[
    str,
    Field(
        max_length=endpoints.MAX_URL,
        description="https://, or http:// to an address in webhook_allowed_networks.",
        examples=["https://ci.example.com/hooks/registry"],
    ),
]
Events = Annotated[
    list[str],
    Field(
        min_length=1,
        max_length=64,
        description="Event types (`manifest.pushed`, `tag.deleted`, ...), families (`tag.*`)"
        " or `*` for every one.",
        examples=[["manifest.pushed", "tag.deleted", "manifest.deleted"]],
    ),
]
Packages = Annotated[
    str,
    Field(
        max_length=255,
        description="A glob of the workspace's package names (`*`, `?`); empty or null: every"
        " package. A package's admins give exactly that package.",
        examples=["acme/web*"],
    ),
]
Secret = Annotated[
    str,
    Field(
        min_length=endpoints.MIN_SECRET,
        max_length=endpoints.MAX_SECRET,
        description="Signs every delivery (HMAC-SHA256); left out: one is made and returned.",
    ),
]


class WebhookIn(Body):
    url: Url
    secret: Secret | None = None
    events: Events = ["*"]
    packages: Packages | None = None
    format: Format = "cargohold"
    active: bool = True


class WebhookUpdate(Body):
    url: Url | None = None
    secret: Secret | None = None
    events: Events | None = None
    packages: Packages | None = None
    format: Format | None = None
    active: bool | None = Field(
        default=None, description="true turns the endpoint on again after it was turned off."
    )


class WebhookOut(BaseModel):
    id: int
    workspace: str
    url: str
    events: list[str]
    packages: str | None
    format: Format
    active: bool
    disabled_reason: str | None = Field(description="Why delivery turned the endpoint off.")
    failures: int = Field(description="Failed attempts in a row.")
    retry_at: datetime | None = Field(description="Backing off until then after a failure.")
    created_at: datetime
    created_by: str | None
    updated_at: datetime

    @classmethod
    def of(cls, hook: Webhook) -> WebhookOut:
        return cls.model_validate(_fields(hook))


class CreatedWebhookOut(WebhookOut):
    secret: str = Field(description="The signing secret: shown this once, never again.")


def _fields(hook: Webhook) -> dict[str, Any]:
    return {
        "id": hook.id,
        "workspace": hook.workspace,
        "url": hook.url,
        "events": list(hook.events),
        "packages": hook.packages or None,
        "format": hook.format,
        "active": hook.active,
        "disabled_reason": hook.disabled_reason,
        "failures": hook.failures,
        "retry_at": maybe_timestamp(hook.retry_at),
        "created_at": timestamp(hook.created_at),
        "created_by": hook.created_by,
        "updated_at": timestamp(hook.updated_at),
    }


class DeliveryOut(BaseModel):
    id: int
    event_id: str = Field(description="Cargohold-Event-Id: the same on every attempt.")
    event: str = Field(description="The event type; `ping` for the one sent at creation.")
    redelivery: int = Field(description="0, or n for the nth redelivery of the event.")
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    response_status: int | None = Field(description="What the last attempt was answered.")
    duration_ms: int | None
    error: str | None

    @classmethod
    def of(cls, found: Delivery) -> DeliveryOut:
        return cls.model_validate(_delivery_fields(found))


class DeliveryDetailOut(DeliveryOut):
    content_type: str
    payload: Any = Field(description="The body sent, as JSON.")

    @classmethod
    def of(cls, found: Delivery) -> DeliveryDetailOut:
        return cls.model_validate(
            {
                **_delivery_fields(found),
                "content_type": found.content_type,
                "payload": deliveries.payload_json(found),
            }
        )


def _delivery_fields(found: Delivery) -> dict[str, Any]:
    return {
        "id": found.id,
        "event_id": str(found.event_id),
        "event": found.action,
        "redelivery": found.generation,
        "state": found.state,
        "attempts": found.attempts,
        "created_at": timestamp(found.created_at),
        "last_attempt_at": maybe_timestamp(found.last_attempt_at),
        "next_attempt_at": maybe_timestamp(found.next_attempt_at),
        "response_status": found.response_status,
        "duration_ms": found.duration_ms,
        "error": found.error,
    }


@router.get(_BASE)
async def list_webhooks(workspace: str, tx: DbTx, principal: CurrentPrincipal) -> Items[WebhookOut]:
    """The endpoints you manage: all of the workspace's for its owners, those of your
    packages for package admins."""
    found = await webhooks.list_webhooks(tx, principal, workspace)
    return Items(items=[WebhookOut.of(hook) for hook in found])


@router.post(_BASE, status_code=status.HTTP_201_CREATED)
async def create_webhook(
    workspace: str,
    body: WebhookIn,
    request: Request,
    response: Response,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
) -> CreatedWebhookOut:
    """Register an endpoint (owners; a package's admins for that package). Its URL must
    pass the forgery guard. A `ping` is sent to it at once."""
    identify_principal(principal)  # no DbTx here: the URL is resolved between transactions
    made = await webhooks.create_webhook(
        ctx,
        principal,
        workspace=workspace,
        url=body.url,
        secret=body.secret,
        events=body.events,
        packages=body.packages,
        form=body.format,
        active=body.active,
    )
    response.headers["Location"] = location(
        request, f"/workspaces/{made.webhook.workspace}/webhooks/{made.webhook.id}"
    )
    return CreatedWebhookOut.model_validate({**_fields(made.webhook), "secret": made.secret})


@router.get(f"{_BASE}/{{webhook_id}}")
async def show_webhook(
    workspace: str, webhook_id: RowId, tx: DbTx, principal: CurrentPrincipal
) -> WebhookOut:
    return WebhookOut.of(await webhooks.show_webhook(tx, principal, workspace, webhook_id))


@router.patch(f"{_BASE}/{{webhook_id}}")
async def update_webhook(
    workspace: str,
    webhook_id: RowId,
    body: WebhookUpdate,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
) -> WebhookOut:
    """Change what is given; `active: true` turns an endpoint on again."""
    identify_principal(principal)
    changed = await webhooks.update_webhook(
        ctx,
        principal,
        workspace=workspace,
        webhook_id=webhook_id,
        url=body.url,
        secret=body.secret,
        events=body.events,
        packages=body.packages,
        form=body.format,
        active=body.active,
    )
    return WebhookOut.of(changed)


@router.delete(
    f"{_BASE}/{{webhook_id}}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
async def delete_webhook(
    workspace: str, webhook_id: RowId, tx: DbTx, ctx: CurrentContext, principal: CurrentPrincipal
) -> None:
    await webhooks.delete_webhook(tx, principal, workspace, webhook_id, now=ctx.now())


@router.get(f"{_BASE}/{{webhook_id}}/deliveries")
async def list_deliveries(
    workspace: str,
    webhook_id: RowId,
    tx: DbTx,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, description="At most this many deliveries.")] = 50,
    after: Annotated[
        int | None,
        Query(ge=1, le=MAX_BIG_ID, description="Older than this delivery (`next_after`)."),
    ] = None,
) -> Items[DeliveryOut]:
    """The endpoint's deliveries, newest first: state, attempts, the last answer's status,
    how long it took, and the error."""
    found, more = await webhooks.list_deliveries(
        tx,
        principal,
        workspace,
        webhook_id,
        limit=min(limit, ctx.settings.page_size_max),
        before=after,
    )
    return Items(
        items=[DeliveryOut.of(d) for d in found], next_after=None if more is None else str(more)
    )


@router.get(f"{_BASE}/{{webhook_id}}/deliveries/{{delivery_id}}")
async def show_delivery(
    workspace: str, webhook_id: RowId, delivery_id: BigRowId, tx: DbTx, principal: CurrentPrincipal
) -> DeliveryDetailOut:
    """One delivery, with the body it sends."""
    found = await webhooks.show_delivery(tx, principal, workspace, webhook_id, delivery_id)
    return DeliveryDetailOut.of(found)


@router.post(
    f"{_BASE}/{{webhook_id}}/deliveries/{{delivery_id}}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(409),
)
async def redeliver(
    workspace: str,
    webhook_id: RowId,
    delivery_id: BigRowId,
    tx: DbTx,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
) -> DeliveryOut:
    """Send the delivery's event again: a new delivery with the same body and event id,
    due now."""
    made = await webhooks.redeliver(
        tx, principal, workspace, webhook_id, delivery_id, now=ctx.now()
    )
    return DeliveryOut.of(made)
