"""A workspace's webhooks: the list with a form to register one (its secret shown once),
and each endpoint's page to change, turn off or delete it, with its delivery history (state,
response code, duration, error) and a button to deliver one again. Everything goes through
the checked use cases (services/registry/checked/webhooks.py), which decide who may."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from cargohold.services.errors import Conflict, Invalid, NotFound
from cargohold.services.events.webhooks import endpoints, formats
from cargohold.services.registry.checked import webhooks
from cargohold.web.ui.page import Page, begin
from cargohold.web.ui.row_ids import form_row_id, path_row_id

HISTORY = 50  # deliveries on an endpoint's page


def _form_values(form: FormData | None, hook: endpoints.Webhook | None = None) -> dict[str, Any]:
    """What the form shows: what was typed, else the endpoint's settings, else defaults."""
    if form is not None:
        return {
            "url": str(form.get("url", ""))[: endpoints.MAX_URL],
            "events": [str(e) for e in form.getlist("event")][:64],
            "packages": str(form.get("packages", ""))[:255],
            "format": str(form.get("format", formats.CARGOHOLD))[:20],
            "active": bool(form.get("active")),
        }
    if hook is not None:
        return {
            "url": hook.url,
            "events": list(hook.events),
            "packages": hook.packages,
            "format": hook.format,
            "active": hook.active,
        }
    return {
        "url": "",
        "events": [endpoints.ALL],
        "packages": "",
        "format": formats.CARGOHOLD,
        "active": True,
    }


def _choices() -> dict[str, Any]:
    return {
        "package_events": endpoints.PACKAGE_EVENTS,
        "workspace_events": endpoints.WORKSPACE_EVENTS,
        "formats": formats.FORMATS,
    }


async def webhooks_page(request: Request) -> Response:
    page = await begin(request)
    slug = request.path_params["workspace"]
    package = request.query_params.get("package", "")[:255]
    async with page.transaction() as tx:
        try:
            found = await webhooks.list_webhooks(tx, page.principal, slug, package=package)
        except Invalid:
            raise NotFound("no such package") from None
    values = _form_values(None)
    values["packages"] = package
    return page.render("webhooks.html", workspace=slug, webhooks=found, values=values, **_choices())


async def create_webhook(request: Request) -> Response:
    page = await begin(request)
    form = await page.form()
    slug = request.path_params["workspace"]
    values = _form_values(form)
    try:
        made = await webhooks.create_webhook(
            page.ctx,
            page.principal,
            workspace=slug,
            url=values["url"],
            secret=str(form.get("secret", ""))[: endpoints.MAX_SECRET] or None,
            events=values["events"],
            packages=values["packages"],
            form=values["format"],
            active=values["active"],
        )
    except Invalid as exc:
        async with page.transaction() as tx:
            try:
                found = await webhooks.list_webhooks(
                    tx, page.principal, slug, package=values["packages"]
                )
            except Invalid:
                found = []
        return page.render(
            "webhooks.html",
            400,
            workspace=slug,
            webhooks=found,
            values=values,
            error=page.say(exc),
            **_choices(),
        )
    return await _show(page, slug, made.webhook.id, secret=made.secret)


def _webhook_id(request: Request) -> int:
    return path_row_id(request, "webhook", "webhook")


async def webhook_page(request: Request) -> Response:
    page = await begin(request)
    return await _show(page, request.path_params["workspace"], _webhook_id(request))


async def _show(
    page: Page, slug: str, webhook_id: int, status: int = 200, **extra: Any
) -> Response:
    async with page.transaction() as tx:
        hook = await webhooks.show_webhook(tx, page.principal, slug, webhook_id)
        history, _ = await webhooks.list_deliveries(
            tx, page.principal, slug, webhook_id, limit=HISTORY
        )
    values = extra.pop("values", None) or _form_values(None, hook)
    return page.render(
        "webhook.html",
        status,
        workspace=slug,
        webhook=hook,
        deliveries=history,
        values=values,
        done=page.request.query_params.get("done", ""),
        **_choices(),
        **extra,
    )


async def change_webhook(request: Request) -> Response:
    """POST /w/WS/webhooks/ID: `action` save, delete or redeliver (with `delivery`)."""
    page = await begin(request)
    form = await page.form()
    slug = request.path_params["workspace"]
    webhook_id = _webhook_id(request)
    action = str(form.get("action", ""))
    here = f"/w/{quote(slug)}/webhooks/{webhook_id}"
    try:
        if action == "save":
            values = _form_values(form)
            await webhooks.update_webhook(
                page.ctx,
                page.principal,
                workspace=slug,
                webhook_id=webhook_id,
                url=values["url"],
                secret=str(form.get("secret", ""))[: endpoints.MAX_SECRET] or None,
                events=values["events"],
                packages=values["packages"],
                form=values["format"],
                active=values["active"],
            )
            return page.redirect(f"{here}?done=saved")
        if action == "delete":
            async with page.transaction() as tx:
                await webhooks.delete_webhook(
                    tx, page.principal, slug, webhook_id, now=page.ctx.now()
                )
            return page.redirect(f"/w/{quote(slug)}/webhooks")
        if action == "redeliver":
            delivery = form_row_id(str(form.get("delivery", "")), "delivery")
            async with page.transaction() as tx:
                await webhooks.redeliver(
                    tx, page.principal, slug, webhook_id, delivery, now=page.ctx.now()
                )
            return page.redirect(f"{here}?done=redelivered")
        raise Invalid("unknown action")
    except (Invalid, Conflict) as exc:
        typed = _form_values(form) if action == "save" else None
        return await _show(page, slug, webhook_id, 400, error=page.say(exc), values=typed)
