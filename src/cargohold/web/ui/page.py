"""What every page handler works with: the session, the person, the language, the
templates, one transaction, and the rendering of a response with security headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from cargohold.metadata.db import Queries
from cargohold.services.accounts import directory, sessions
from cargohold.services.accounts.checked import repositories
from cargohold.services.accounts.principals import ANONYMOUS, Principal
from cargohold.services.context import Context
from cargohold.services.registry.checked import browse
from cargohold.web import observe
from cargohold.web.actors import identify_principal
from cargohold.web.ui import csrf, i18n, messages, session_cookie
from cargohold.web.ui.session_cookie import Session

TEMPLATES = Path(__file__).parent / "templates"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


@cache
def environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["time"] = lambda value: i18n.format_time(value, language)
    env.filters["isoformat"] = i18n.iso_time
    env.filters["ago"] = pass_context(
        lambda context, value: i18n.format_ago(value, context["now"], language)
    )
    env.filters["isotime"] = lambda value: i18n.format_iso_time(value, language)
    env.filters["size"] = lambda value: i18n.format_size(value, language)
    env.filters["number"] = lambda value: i18n.format_number(value, language)
    env.filters["artifact_kind"] = browse.artifact_kind
    env.filters["path"] = lambda value: quote(str(value), safe="/:@")
    env.globals["language"] = language
    env.globals["languages"] = i18n.LANGUAGES
    return env


@dataclass
class Page:
    """One request of the UI."""

    request: Request
    ctx: Context
    session: Session
    principal: Principal
    language: str
    new_session: bool
    may_create_packages: bool = False  # admin of some repository: the menu offers it

    @property
    def user(self) -> directory.User | None:
        return self.principal.user

    @property
    def session_id(self) -> str | None:
        """The id of the signed-in session this page is seen with."""
        signed_in = self.session.signed_in if self.user is not None else None
        return sessions.session_id(signed_in) if signed_in else None

    def gettext(self, message: str, **values: Any) -> str:
        text = i18n.translations(self.language).gettext(message)
        return text % values if values else text

    def say(self, error: Exception) -> messages.Said:
        """An error's message as the reader reads it (web/ui/messages.py)."""
        return messages.say_error(error, i18n.translations(self.language).gettext)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Queries]:
        async with self.ctx.db.transaction() as tx:
            yield tx

    async def form(self) -> FormData:
        """The posted form, after its CSRF token has been checked."""
        form = await self.request.form()
        csrf.check(self.session if not self.new_session else None, form)
        return form

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        body = (
            environment(self.language)
            .get_template(template)
            .render(
                {
                    "user": self.user,
                    "csrf_token": self.session.csrf,
                    "csrf_field": csrf.FIELD,
                    "path": self.request.url.path,
                    "sign_in_next": here(self.request),
                    "may_create_packages": self.may_create_packages,
                    "registry_host": registry_host(self.request),
                    "now": self.ctx.now(),
                    **values,
                }
            )
        )
        return self.finish(HTMLResponse(body, status_code=status))

    def redirect(self, url: str) -> Response:
        return self.finish(RedirectResponse(url, status_code=303))

    def finish(self, response: Response) -> Response:
        if self.new_session:
            session_cookie.store(self.request, response, self.session)
        response.headers.update(SECURITY_HEADERS)
        return response


def here(request: Request) -> str:
    """Where a visitor who signs in from this page comes back to: the address asked for
    (what a POST showed is reached again with a GET of its path)."""
    url = request.url
    return url.path + (f"?{url.query}" if url.query and request.method == "GET" else "")


def registry_host(request: Request) -> str:
    """How clients name this registry: the Host the browser used."""
    return request.headers.get("host") or request.url.netloc


async def begin(request: Request) -> Page:
    """The page's session (a new anonymous one for a first visit) and who is signed in.

    A signed-in cookie counts while its session row stands, unexpired (one query, which
    also reads the person), and, for a session made with a password, while password
    login is allowed (single sign-on sessions hold either way)."""
    ctx: Context = request.app.state.context
    session = session_cookie.current(request)
    fresh = session is None
    if session is None:
        session = session_cookie.new_session(ctx, None)
    principal = ANONYMOUS
    if session.signed_in is not None:
        found = await sessions.check_session(
            ctx.db, session.signed_in, kind=sessions.WEB, now=ctx.now()
        )
        if found is not None and found[0].method != sessions.SSO:
            found = found if ctx.settings.password_login else None
        if found is not None and found[1] is not None:
            principal = Principal(user=found[1])
        else:
            session, fresh = session_cookie.new_session(ctx, None), True
    identify_principal(principal)  # what the page changes is recorded as done by them
    observe.note_principal(request, principal)
    may_create = False
    if principal.user is not None:
        may_create = await repositories.may_create_packages(ctx.db, principal)
    return Page(request, ctx, session, principal, i18n.negotiate(request), fresh, may_create)
