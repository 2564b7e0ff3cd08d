"""A workspace's replication rules: the list with each rule's status and a form to add one,
and each rule's page with its jobs (state, attempts, what was sent, the last error), a
button to retry a failed job, its settings and deleting it. Everything goes through the
checked use cases (services/registry/checked/replications.py), which decide who may."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from cargohold.services.errors import Conflict, Invalid, NotFound
from cargohold.services.registry.checked import replications
from cargohold.services.registry.replication import rules
from cargohold.services.registry.replication.rules import Replication
from cargohold.web.ui.page import Page, begin
from cargohold.web.ui.row_ids import form_row_id, path_row_id

HISTORY = 50  # jobs on a rule's page


def _form_values(form: FormData | None, rule: Replication | None = None) -> dict[str, Any]:
    """What the form shows: what was typed, else the rule's settings, else defaults. A
    password is never shown."""
    if form is not None:
        return {
            "url": str(form.get("url", ""))[: rules.MAX_URL],
            "package": str(form.get("package", ""))[:255],
            "prefix": str(form.get("prefix", ""))[:255],
            "username": str(form.get("username", ""))[: rules.MAX_USERNAME],
            "active": bool(form.get("active")),
        }
    if rule is not None:
        return {
            "url": rule.url,
            "package": rule.package,
            "prefix": rule.prefix,
            "username": rule.username or "",
            "active": rule.active,
        }
    return {"url": "", "package": "", "prefix": "", "username": "", "active": True}


def _password(form: FormData) -> str | None:
    return str(form.get("password", ""))[: rules.MAX_PASSWORD] or None


async def _listing(page: Page, slug: str, package: str) -> list[tuple[Replication, Any]]:
    async with page.transaction() as tx:
        try:
            found = await replications.list_replications(tx, page.principal, slug, package=package)
        except Invalid:
            raise NotFound("no such package") from None
        return [
            (rule, await replications.job_counts(tx, page.principal, slug, rule.id))
            for rule in found
        ]


async def replications_page(request: Request) -> Response:
    page = await begin(request)
    slug = request.path_params["workspace"]
    package = request.query_params.get("package", "")[:255]
    found = await _listing(page, slug, package)
    values = _form_values(None)
    values["package"] = package
    return page.render("replications.html", workspace=slug, rules=found, values=values)


async def create_replication(request: Request) -> Response:
    page = await begin(request)
    form = await page.form()
    slug = request.path_params["workspace"]
    values = _form_values(form)
    try:
        made = await replications.create_replication(
            page.ctx,
            page.principal,
            workspace=slug,
            package=values["package"],
            url=values["url"],
            username=values["username"] or None,
            password=_password(form),
            prefix=values["prefix"],
            active=values["active"],
        )
    except Invalid as exc:
        try:
            found = await _listing(page, slug, values["package"])
        except NotFound:
            found = []
        return page.render(
            "replications.html",
            400,
            workspace=slug,
            rules=found,
            values=values,
            error=page.say(exc),
        )
    return page.redirect(f"/w/{quote(slug)}/replications/{made.id}?done=created")


def _replication_id(request: Request) -> int:
    return path_row_id(request, "replication", "replication")


async def replication_page(request: Request) -> Response:
    page = await begin(request)
    return await _show(page, request.path_params["workspace"], _replication_id(request))


async def _show(
    page: Page, slug: str, replication_id: int, status: int = 200, **extra: Any
) -> Response:
    async with page.transaction() as tx:
        rule = await replications.show_replication(tx, page.principal, slug, replication_id)
        counts = await replications.job_counts(tx, page.principal, slug, replication_id)
        history, _ = await replications.list_jobs(
            tx, page.principal, slug, replication_id, limit=HISTORY
        )
    values = extra.pop("values", None) or _form_values(None, rule)
    return page.render(
        "replication.html",
        status,
        workspace=slug,
        rule=rule,
        counts=counts,
        jobs=history,
        values=values,
        done=page.request.query_params.get("done", ""),
        **extra,
    )


async def change_replication(request: Request) -> Response:
    """POST /w/WS/replications/ID: `action` save, delete or retry (with `job`)."""
    page = await begin(request)
    form = await page.form()
    slug = request.path_params["workspace"]
    replication_id = _replication_id(request)
    action = str(form.get("action", ""))
    here = f"/w/{quote(slug)}/replications/{replication_id}"
    try:
        if action == "save":
            values = _form_values(form)
            password = _password(form)
            await replications.update_replication(
                page.ctx,
                page.principal,
                workspace=slug,
                replication_id=replication_id,
                url=values["url"],
                prefix=values["prefix"],
                username=values["username"] if password else None,
                password=password,
                anonymous=bool(form.get("anonymous")),
                active=values["active"],
            )
            return page.redirect(f"{here}?done=saved")
        if action == "delete":
            async with page.transaction() as tx:
                await replications.delete_replication(
                    tx, page.principal, slug, replication_id, now=page.ctx.now()
                )
            return page.redirect(f"/w/{quote(slug)}/replications")
        if action == "retry":
            job = form_row_id(str(form.get("job", "")), "job")
            async with page.transaction() as tx:
                await replications.retry_job(
                    tx, page.principal, slug, replication_id, job, now=page.ctx.now()
                )
            return page.redirect(f"{here}?done=retried")
        raise Invalid("unknown action")
    except (Invalid, Conflict) as exc:
        typed = _form_values(form) if action == "save" else None
        return await _show(page, slug, replication_id, 400, error=page.say(exc), values=typed)
