"""Sign-in and sign-out routes (email and password, rate limited like /token; single
sign-on with OpenID Connect), and the language."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cargohold.services.accounts import logins, sessions, sso, tokens
from cargohold.services.errors import NotFound
from cargohold.web.registry.auth import public_base
from cargohold.web.ui import i18n, session_cookie
from cargohold.web.ui.messages import Said, _
from cargohold.web.ui.page import Page, begin

SSO_COOKIE = "cargohold_sso"
SSO_PATH = "/sign-in/sso"
SSO_SEAL = "sso sign-in"
SSO_MAX_AGE = 600  # seconds a person may take at the provider


def safe_next(target: object) -> str:
    """A local path to go back to after signing in; anything else goes home."""
    if (
        isinstance(target, str)
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in target)  # a browser drops tabs
    ):
        return target
    return "/"


def _sign_in_page(page: Page, status: int = 200, **values: Any) -> Response:
    """The sign-in page: the password form where password login is on, the single sign-on
    button where it is set up."""
    settings = page.ctx.settings
    return page.render(
        "sign_in.html",
        status,
        password_login=settings.password_login,
        sso_enabled=settings.sso_enabled,
        sso_name=settings.sso_name,
        **values,
    )


async def sign_in_form(request: Request) -> Response:
    page = await begin(request)
    if page.user is not None:
        return page.redirect(safe_next(request.query_params.get("next")))
    return _sign_in_page(page, next=safe_next(request.query_params.get("next")))


async def sign_in(request: Request) -> Response:
    page = await begin(request)
    form = await page.form()
    email = str(form.get("email", "")).strip()[:320]
    password = str(form.get("password", ""))
    target = safe_next(form.get("next"))

    def refuse(message: str, status: int) -> Response:
        return _sign_in_page(page, status, next=target, email=email, error=message)

    if not page.ctx.settings.password_login:
        return refuse(page.gettext("Password sign-in is off here."), 401)
    if not email or not password or tokens.looks_like_token(password):
        return refuse(page.gettext("Enter your email address and your password."), 401)
    address = request.client.host if request.client else None
    try:
        principal = await logins.authenticate(
            page.ctx, username=email, secret=password, address=address
        )
    except logins.TooManyAttempts as exc:
        response = refuse(
            page.gettext(
                "Too many failed sign-ins. Try again in %(seconds)s seconds.",
                seconds=exc.retry_after,
            ),
            429,
        )
        response.headers["retry-after"] = str(exc.retry_after)
        return response
    except logins.LoginFailed:
        return refuse(page.gettext("Wrong email address or password."), 401)
    if principal.user is None or principal.token is not None:
        return refuse(page.gettext("Wrong email address or password."), 401)
    await _start_session(page, principal.user.id, method=None)
    return page.redirect(target)


async def _start_session(page: Page, user_id: int, *, method: str | None) -> None:
    """A new web session for the person: how every sign-in ends."""
    async with page.transaction() as tx:
        if page.session_id is not None:  # signing in again, perhaps as someone else
            await sessions.end_session(tx, page.session_id)
        _, signed_in = await sessions.start_session(
            tx,
            kind=sessions.WEB,
            user_id=user_id,
            client=page.request.headers.get("user-agent"),
            method=method,
            lifetime=session_cookie.MAX_AGE,
            now=page.ctx.now(),
        )
    page.session = session_cookie.new_session(page.ctx, signed_in)
    page.new_session = True


def _callback_url(request: Request) -> str:
    return f"{public_base(request)}{SSO_PATH}/callback"


def _forget_sign_in(request: Request, response: Response) -> Response:
    secure = request.url.scheme == "https"
    response.delete_cookie(SSO_COOKIE, path=SSO_PATH, httponly=True, samesite="lax", secure=secure)
    return response


async def sso_start(request: Request) -> Response:
    """Send the browser to the provider, keeping the state, nonce and PKCE verifier of this
    sign-in in a signed cookie that only the callback reads."""
    page = await begin(request)
    settings = page.ctx.settings
    if not settings.sso_enabled:
        raise NotFound("single sign-on is not set up here")
    target = safe_next(request.query_params.get("next"))
    try:
        started = await sso.start(
            page.ctx.federation, settings, redirect_uri=_callback_url(request)
        )
    except sso.SignInRefused as exc:
        message = page.gettext("The sign-in provider could not be reached. Try again later.")
        return _sign_in_page(page, 502, next=target, error=message, detail=page.say(exc))
    kept = {
        "state": started.state,
        "nonce": started.nonce,
        "verifier": started.verifier,
        "next": target,
    }
    response = page.redirect(started.url)
    response.set_cookie(
        SSO_COOKIE,
        session_cookie.seal(page.ctx, SSO_SEAL, kept),
        max_age=SSO_MAX_AGE,
        path=SSO_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


def _refusal(page: Page, exc: sso.SignInRefused) -> str:
    messages = {
        "unverified": page.gettext(
            "Your sign-in provider has not verified your email address, so it cannot be"
            " linked to an account."
        ),
        "domain": page.gettext("Your email address may not sign in here."),
        "no_account": page.gettext(
            "There is no account for your email address. Ask an administrator to invite you."
        ),
    }
    return messages.get(exc.reason, page.gettext("The sign-in provider did not sign you in."))


# The errors a provider sends back instead of a code (OAuth 2.0 and OpenID Connect), said in
# the reader's language; any other is shown as the provider wrote it (its description).
PROVIDER_ERRORS = {
    "access_denied": _("You, or the provider, declined the sign-in."),
    "login_required": _("The provider needs you to sign in there first."),
    "interaction_required": _("The provider needs you to do something there first."),
    "consent_required": _("The provider needs your consent for this registry first."),
    "account_selection_required": _("The provider needs you to choose an account first."),
    "temporarily_unavailable": _("The provider is unavailable for now. Try again later."),
    "server_error": _("The provider failed. Try again later."),
}


def _provider_error(page: Page, code: str, description: str | None) -> Said:
    """Why the provider sent no code: a known error in the reader's words, else what the
    provider wrote (its description, or its error code), marked as the provider's English."""
    if code in PROVIDER_ERRORS:
        return Said(page.gettext(PROVIDER_ERRORS[code]))
    return Said((description or code)[:300], lang="en")


async def sso_callback(request: Request) -> Response:
    """The provider sends the browser back here with a code: check the state, exchange the
    code, find or link (or make) the account, start a session."""
    page = await begin(request)
    ctx, params = page.ctx, request.query_params
    if not ctx.settings.sso_enabled:
        raise NotFound("single sign-on is not set up here")
    kept = session_cookie.unseal(
        ctx, SSO_SEAL, request.cookies.get(SSO_COOKIE), max_age=SSO_MAX_AGE
    )
    target = safe_next(kept.get("next"))

    def refuse(message: str, status: int, detail: Said | None = None) -> Response:
        page_response = _sign_in_page(page, status, next=target, error=message, detail=detail)
        return _forget_sign_in(request, page_response)

    if params.get("error"):
        detail = _provider_error(page, params["error"], params.get("error_description"))
        return refuse(page.gettext("The sign-in provider did not sign you in."), 401, detail)
    state = params.get("state", "")
    if not kept or not secrets.compare_digest(state.encode(), str(kept.get("state")).encode()):
        return refuse(
            page.gettext("This sign-in took too long or began in another browser. Try again."),
            400,
        )
    try:
        person = await sso.identify(
            ctx.federation,
            ctx.settings,
            code=params.get("code", "")[:2048],
            redirect_uri=_callback_url(request),
            nonce=str(kept["nonce"]),
            verifier=str(kept["verifier"]),
            now=ctx.now(),
        )
        async with page.transaction() as tx:
            user = await sso.account(tx, person, ctx.settings, now=ctx.now())
    except sso.SignInRefused as exc:
        return refuse(_refusal(page, exc), exc.status, page.say(exc))
    await _start_session(page, user.id, method=sessions.SSO)
    return _forget_sign_in(request, page.redirect(target))


async def sign_out(request: Request) -> Response:
    """End the session on the server, so that its cookie is worth nothing anywhere; with
    `everywhere`, every session of the person too, and every refresh token that a docker
    login keeps."""
    page = await begin(request)
    form = await page.form()
    if form.get("everywhere") == "1" and page.user is not None:
        await sessions.end_sessions(page.ctx.db, user_id=page.user.id)
    elif page.session_id is not None:
        await sessions.end_session(page.ctx.db, page.session_id)
    page.session = session_cookie.new_session(page.ctx, None)
    page.new_session = True
    return page.redirect("/sign-in")


async def set_language(request: Request) -> Response:
    page = await begin(request)
    form = await page.form()
    language = str(form.get("language", ""))
    response = page.redirect(safe_next(form.get("next")))
    if language in i18n.LANGUAGES:
        response.set_cookie(
            i18n.COOKIE,
            language,
            max_age=365 * 86400,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response
