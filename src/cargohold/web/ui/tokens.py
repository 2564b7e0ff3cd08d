"""Personal API tokens, and the access tokens of a workspace (owners) or a repository
(admins): create (shown once, with the `docker login` command), list, revoke. The personal
page also lists the person's sessions (UI sign-ins) and refresh tokens, to end them.

Creating a token answers with a redirect to the tokens page (post/redirect/get: reloading
it makes no second token). The secret reaches that page in a one-time flash (flash.py)."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from cargohold.authz.roles import SCOPES
from cargohold.metadata.db import Queries
from cargohold.services.accounts.checked import repositories, tokens
from cargohold.services.accounts.principals import require_person
from cargohold.services.accounts.sessions import Session
from cargohold.services.accounts.tokens import Token
from cargohold.services.errors import Conflict, Invalid, NotFound
from cargohold.web.ui import flash
from cargohold.web.ui.messages import Refused
from cargohold.web.ui.page import Page, begin

EXPIRIES = ("7d", "30d", "90d", "1y")
FLASH = "cargohold_new_token"


Kind = Literal["personal", "repository", "workspace"]


def _owner(request: Request) -> tuple[Kind, str | None]:
    """Whose tokens: ("personal", None), ("workspace", WS) or ("repository", WS/REPO)."""
    params = request.path_params
    if "repository" in params:
        return "repository", f"{params['workspace']}/{params['repository']}"
    if "workspace" in params:
        return "workspace", params["workspace"]
    return "personal", None


async def _list(tx: Queries, page: Page, kind: Kind, target: str | None) -> list[Token]:
    if kind != "personal":
        assert target is not None
        return await tokens.list_access_tokens(tx, page.principal, kind, target)
    return await tokens.list_personal_tokens(tx, page.principal)


async def _project(tx: Queries, page: Page, kind: Kind, target: str | None) -> str | None:
    """The project of a repository's tokens page, for its breadcrumbs."""
    if kind != "repository" or target is None:
        return None
    return (await repositories.show_repository(tx, page.principal, target)).project


async def _sessions(tx: Queries, page: Page, kind: Kind) -> list[Session]:
    if kind != "personal":
        return []
    return await tokens.list_sessions(tx, page.principal, now=page.ctx.now())


def _render(
    page: Page, kind: str, target: str | None, found: list[Token], **extra: Any
) -> Response:
    expiries = list(EXPIRIES)
    if page.ctx.settings.allow_tokens_without_expiry:
        expiries.append("never")
    return page.render(
        "tokens.html",
        extra.pop("status", 200),
        kind=kind,
        target=target,
        tokens=found,
        current_session=page.session_id,
        scopes=list(SCOPES),
        expiries=expiries,
        now=page.ctx.now(),
        **extra,
    )


async def tokens_page(request: Request) -> Response:
    page = await begin(request)
    require_person(page.principal)
    kind, target = _owner(request)
    async with page.transaction() as tx:
        found = await _list(tx, page, kind, target)
        signed_in = await _sessions(tx, page, kind)
        project = await _project(tx, page, kind, target)
    flashed = flash.take(page, FLASH)
    created = next((t for t in found if t.id == flashed.get("id")), None)
    shown: dict[str, Any] = {}
    if created is not None:
        shown = {"created": created, "secret": flashed["secret"], "username": flashed["username"]}
    revoked = request.query_params.get("revoked")
    if revoked is not None:  # what the last revocation ended: a token still listed, or not
        shown["revoked"] = next((t for t in found if t.id == revoked and t.revoked_at), True)
    response = _render(page, kind, target, found, sessions=signed_in, project=project, **shown)
    flash.forget(page, response, FLASH)  # shown once
    return response


async def create_token(request: Request) -> Response:
    page = await begin(request)
    form = await page.form()
    require_person(page.principal)
    kind, target = _owner(request)
    name = str(form.get("name", "")).strip()[:100]
    scopes = [str(scope) for scope in form.getlist("scope")]
    expires_in = str(form.get("expires", "30d"))
    values: dict[str, Any] = {
        "name": name,
        "scopes": scopes,
        "expires_in": expires_in,
        "settings": page.ctx.settings,
        "now": page.ctx.now(),
    }
    created: tuple[Token, str] | None = None
    error = None
    async with page.transaction() as tx:
        try:
            if not name:
                raise Refused(page.gettext("Give the token a name."))
            if kind != "personal":
                assert target is not None
                created = await tokens.create_access_token(
                    tx, page.principal, kind, target, **values
                )
            else:
                created = await tokens.create_personal_token(tx, page.principal, **values)
        except (Invalid, Conflict) as exc:
            error = page.say(exc)
        found = await _list(tx, page, kind, target)
        signed_in = await _sessions(tx, page, kind)
        project = await _project(tx, page, kind, target)
    if created is None:
        return _render(
            page,
            kind,
            target,
            found,
            error=error,
            status=400,
            sessions=signed_in,
            project=project,
        )
    token, secret = created
    assert page.user is not None
    username = page.user.email if kind == "personal" else token.name
    response = page.redirect(request.url.path)
    made = {"id": token.id, "secret": secret, "username": username}
    flash.put(page, response, FLASH, made, request.url.path)
    return response


async def confirm_revoke(request: Request) -> Response:
    """Before a token is revoked (or a session ended): which one, and what stops working."""
    page = await begin(request)
    require_person(page.principal)
    kind, target = _owner(request)
    token_id = request.path_params["token"]
    async with page.transaction() as tx:
        found = await _list(tx, page, kind, target)
        signed_in = await _sessions(tx, page, kind)
    token = next((t for t in found if t.id == token_id and not t.revoked_at), None)
    session = next((s for s in signed_in if s.id == token_id), None)
    if token is None and session is None:
        raise NotFound(f"no token {token_id[:20]!r} here")
    return page.render(
        "confirm_revoke.html",
        kind=kind,
        target=target,
        token=token,
        session=session,
        current_session=page.session_id,
        back=request.url.path.rsplit("/", 2)[0],
    )


async def revoke_token(request: Request) -> Response:
    page = await begin(request)
    await page.form()
    kind, target = _owner(request)
    token_id = request.path_params["token"]
    now = page.ctx.now()
    async with page.transaction() as tx:
        if kind != "personal":
            assert target is not None
            await tokens.revoke_access_token(tx, page.principal, kind, target, token_id, now=now)
        else:
            await tokens.revoke_personal_token(tx, page.principal, token_id, now=now)
    back = request.url.path.rsplit("/", 2)[0]
    return page.redirect(f"{back}?revoked={quote(token_id, safe='')}")
