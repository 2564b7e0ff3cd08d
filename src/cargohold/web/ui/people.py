"""People (`/admin/people`, site admins): everyone's account, a form to create one and a
form to invite a person by email, whose link (shown once to the admin, who sends it on:
Cargohold sends no mail) leads to `/invitation`, where the person sets their password.

The link carries its secret in the query (`/invitation?code=…`): paths are written to
the access log, queries are not."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from cargohold.services.accounts import directory, invitations
from cargohold.services.accounts.checked import people
from cargohold.services.errors import Conflict, Invalid, NotFound
from cargohold.web.ui import flash
from cargohold.web.ui.messages import Refused
from cargohold.web.ui.page import Page, begin, registry_host

PEOPLE = "/admin/people"
INVITATION = "/invitation"
FLASH = "cargohold_invitation"


async def _render(page: Page, status: int = 200, **values: Any) -> Response:
    async with page.transaction() as tx:
        found = await people.list_people(tx, page.principal, now=page.ctx.now())
    settings = page.ctx.settings
    return page.render(
        "people.html",
        status,
        people=found,
        sso_enabled=settings.sso_enabled,
        sso_name=settings.sso_name,
        lifetime_days=int(invitations.LIFETIME // 86400),
        asked=values.pop("asked", {}),
        **values,
    )


async def people_page(request: Request) -> Response:
    page = await begin(request)
    invited = flash.take(page, FLASH)
    response = await _render(page, invited=invited, done=request.query_params.get("done"))
    flash.forget(page, response, FLASH)  # the link is shown once
    return response


async def change(request: Request) -> Response:
    page = await begin(request)
    form = await page.form()
    action = str(form.get("action", ""))
    email = str(form.get("email", "")).strip()[:320]
    name = str(form.get("name", "")).strip()[:200]
    admin = form.get("admin") == "on"
    asked = {"action": action, "email": email, "name": name, "admin": admin}
    password = str(form.get("password", ""))[:1000]
    now = page.ctx.now()
    try:
        hashed = None
        if action == "create" and password:  # site admins only, before a costly hash
            people.require_site_admin(page.principal, change=True)
            hashed = await asyncio.to_thread(directory.hash_password, password)
        async with page.transaction() as tx:
            if action == "create":
                await people.add_person(
                    tx,
                    page.principal,
                    email=email,
                    display_name=name,
                    password_hash=hashed,
                    admin=admin,
                    now=now,
                )
            elif action == "invite":
                invitation, text = await people.invite_person(
                    tx,
                    page.principal,
                    email=email,
                    display_name=name,
                    admin=admin,
                    now=now,
                )
            else:
                raise Invalid("unknown action")
    except (Invalid, Conflict, NotFound) as exc:
        return await _render(page, 400, error=page.say(exc), asked=asked)
    if action == "create":
        return page.redirect(f"{PEOPLE}?done={quote(email)}")
    link = f"{page.request.url.scheme}://{registry_host(request)}{INVITATION}?code={text}"
    response = page.redirect(PEOPLE)
    made = {"email": invitation.user.email, "link": link, "expires_at": invitation.expires_at}
    flash.put(page, response, FLASH, made, PEOPLE)
    return response


def _invitation_page(page: Page, status: int = 200, **values: Any) -> Response:
    settings = page.ctx.settings
    return page.render(
        "invitation.html",
        status,
        sso_enabled=settings.sso_enabled,
        sso_name=settings.sso_name,
        **values,
    )


async def invitation_page(request: Request) -> Response:
    """The form that sets an invited person's password (anyone holding the link)."""
    page = await begin(request)
    if request.query_params.get("done"):
        return _invitation_page(page, done=True)
    code = request.query_params.get("code", "")[:100]
    try:
        async with page.transaction() as tx:
            found = await invitations.find(tx, code, now=page.ctx.now())
    except NotFound:  # used, expired, replaced or never made: which is not told
        return _invitation_page(page, 404, gone=True)
    return _invitation_page(page, invitation=found, code=code)


async def accept(request: Request) -> Response:
    page = await begin(request)
    form = await page.form()
    code = str(form.get("code", ""))[:100]
    password = str(form.get("password", ""))[:1000]
    try:
        if password != str(form.get("confirm", ""))[:1000]:
            raise Refused(page.gettext("The two passwords differ."))
        async with page.transaction() as tx:  # a good link first, then the costly hash
            await invitations.find(tx, code, now=page.ctx.now())
        hashed = await asyncio.to_thread(directory.hash_password, password)
        async with page.transaction() as tx:
            await invitations.accept(tx, code, password_hash=hashed, now=page.ctx.now())
    except NotFound:
        return _invitation_page(page, 404, gone=True)
    except Invalid as exc:
        async with page.transaction() as tx:
            found = await invitations.find(tx, code, now=page.ctx.now())
        return _invitation_page(page, 400, invitation=found, code=code, error=page.say(exc))
    return page.redirect(f"{INVITATION}?done=1")
