"""A package's settings, for its admins: the retention policy (with a preview of exactly
what it deletes, before it is saved), protected tag patterns, and deleting the package."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.responses import Response

from cargohold.authz.roles import Role
from cargohold.metadata.db import Queries
from cargohold.services.accounts.principals import require_package
from cargohold.services.errors import Conflict, Invalid, NotFound
from cargohold.services.lifecycle import retention_plan
from cargohold.services.lifecycle.checked import retention
from cargohold.services.lifecycle.retention_plan import Policy
from cargohold.services.registry.checked import packages, protection
from cargohold.web.ui.messages import Refused, Said
from cargohold.web.ui.page import Page

FIELDS = ("keep_newest", "keep_pattern", "untagged_days", "tag_days")
_NUMBERS = {
    "keep_newest": retention_plan.MAX_KEEP_NEWEST,
    "untagged_days": retention_plan.MAX_DAYS,
    "tag_days": retention_plan.MAX_DAYS,
}


async def dispatch(page: Page, name: str, parts: list[str]) -> Response:
    """`/p/NAME/-/settings` and `/p/NAME/-/settings/delete`, GET and POST, and
    `/p/NAME/-/settings/apply` (GET: what applying the saved policy now deletes)."""
    posting = page.request.method == "POST"
    if parts == ["settings"]:
        return await _change(page, name) if posting else await _show(page, name)
    if parts == ["settings", "delete"]:
        return await _delete(page, name) if posting else await _confirm_delete(page, name)
    if parts == ["settings", "apply"] and not posting:
        return await _confirm_apply(page, name)
    raise NotFound("no such page")


def _form_values(policy: Policy | None) -> dict[str, str]:
    if policy is None:
        return dict.fromkeys(FIELDS, "")
    return {
        "keep_newest": str(policy.keep_newest or ""),
        "keep_pattern": ", ".join(policy.keep_pattern),
        "untagged_days": str(policy.untagged_days or ""),
        "tag_days": str(policy.tag_days or ""),
    }


async def _load(tx: Queries, page: Page, name: str) -> dict[str, Any]:
    await require_package(tx, page.principal, name, Role.ADMIN)
    info = await packages.show_package(tx, page.principal, name)
    try:
        saved = await retention.get_policy(tx, page.principal, name)
    except NotFound:
        saved = None
    rules = await protection.get_protection(tx, page.principal, name)
    return {
        "package": info,
        "saved": saved,
        "values": _form_values(saved.policy if saved else None),
        "protected": ", ".join(rules.patterns),
    }


async def _show(page: Page, name: str) -> Response:
    async with page.transaction() as tx:
        values = await _load(tx, page, name)
    query = page.request.query_params
    done = query.get("done", "")
    applied = {key: int(query[key]) for key in ("tags", "images") if query.get(key, "").isdigit()}
    return page.render("package_settings.html", done=done, applied=applied, **values)


def _parse_policy(page: Page, form: FormData) -> tuple[dict[str, str], Policy]:
    """The form's fields as typed, and the policy they make (Invalid with a message)."""
    typed = {field: str(form.get(field, "")).strip()[:600] for field in FIELDS}
    numbers: dict[str, int | None] = {}
    for field, high in _NUMBERS.items():
        text = typed[field]
        if text and not (text.isascii() and text.isdigit() and len(text) <= 6):
            raise Refused(
                page.gettext(
                    "%(field)s must be a whole number from 1 to %(high)s.",
                    field=_labels(page)[field],
                    high=high,
                )
            )
        numbers[field] = int(text) if text else None
    policy = retention_plan.make_policy(
        keep_newest=numbers["keep_newest"],
        keep_pattern=typed["keep_pattern"] or None,
        untagged_days=numbers["untagged_days"],
        tag_days=numbers["tag_days"],
    )
    return typed, policy


def _labels(page: Page) -> dict[str, str]:
    return {
        "keep_newest": page.gettext("Keep the newest tags"),
        "untagged_days": page.gettext("Delete untagged images older than (days)"),
        "tag_days": page.gettext("Delete tags older than (days)"),
    }


async def _change(page: Page, name: str) -> Response:
    form = await page.form()
    action = str(form.get("action", ""))
    htmx = bool(page.request.headers.get("hx-request"))
    if not action and htmx:
        action = "preview"
    now = page.ctx.now()
    shown: dict[str, Any] = {}
    error: str | Said | None = None
    status, done = 200, ""
    async with page.transaction() as tx:
        await require_package(tx, page.principal, name, Role.ADMIN)
        try:
            if action in ("preview", "save"):
                shown["values"] = {f: str(form.get(f, ""))[:600] for f in FIELDS}
                typed, policy = _parse_policy(page, form)
                shown["values"] = typed
                shown["plan"] = await retention.preview(
                    tx, page.principal, name=name, policy=policy, now=now
                )
                if action == "save":
                    await retention.set_policy(
                        tx,
                        page.principal,
                        name=name,
                        policy=policy,
                        now=now,
                        confirm_delete_all_tags=bool(form.get("confirm_delete_all_tags")),
                    )
                    done = "retention"
            elif action == "remove_policy":
                await retention.remove_policy(tx, page.principal, name)
                done = "removed"
            elif action == "run":
                ran = await retention.run_policy(tx, page.principal, name=name, now=now)
                done = f"applied&tags={len(ran.tags)}&images={len(ran.manifests)}"
            elif action == "protection":
                text = str(form.get("patterns", ""))[:3000]
                rules = [p.strip() for p in text.split(",")] if text.strip() else []
                shown["protected"] = text
                await protection.set_protection(tx, page.principal, name=name, rules=rules, now=now)
                done = "protection"
            else:
                raise Invalid("unknown action")
        except Conflict:
            error = page.gettext(
                "To save a policy that deletes every tag, tick the box below the list."
            )
            status = 409
        except (Invalid, NotFound) as exc:
            error, status = page.say(exc), 400
        values = await _load(tx, page, name)
    if done:
        return page.redirect(f"/p/{quote(name)}/-/settings?done={done}")
    if htmx and action == "preview":
        status = 200  # htmx swaps only a success: the message shows in the preview's place
    policy_form = action in ("preview", "save")
    return page.render(
        "package_settings.html",
        status,
        error=None if policy_form else error,
        policy_error=error if policy_form else None,
        **{**values, **shown},
    )


async def _confirm_apply(page: Page, name: str) -> Response:
    """Before the saved policy is applied now: exactly what it deletes (NotFound without
    a saved policy)."""
    async with page.transaction() as tx:
        await require_package(tx, page.principal, name, Role.ADMIN)
        info = await packages.show_package(tx, page.principal, name)
        saved = await retention.get_policy(tx, page.principal, name)
        plan = await retention.preview(
            tx, page.principal, name=name, policy=saved.policy, now=page.ctx.now()
        )
    return page.render("confirm_apply.html", package=info, saved=saved, plan=plan)


async def _confirm_delete(page: Page, name: str) -> Response:
    async with page.transaction() as tx:
        await require_package(tx, page.principal, name, Role.ADMIN)
        info = await packages.show_package(tx, page.principal, name)
    return page.render("confirm_delete_package.html", package=info)


async def _delete(page: Page, name: str) -> Response:
    await page.form()
    async with page.transaction() as tx:
        await require_package(tx, page.principal, name, Role.ADMIN)  # a visitor: sign in
        info = await packages.show_package(tx, page.principal, name)
        await packages.remove_package(tx, page.principal, name)
    return page.redirect(f"/w/{quote(info.workspace)}")
