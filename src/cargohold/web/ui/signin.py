"""Sign-in and sign-out routes (email and password, rate limited like /token), and the language."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cargohold.services.accounts import logins, sessions, tokens
from cargohold.web.ui import i18n, session_cookie
from cargohold.web.ui.page import begin


def safe_next(target: object) -> str:
    """A local path to go back to after signing in; anything else goes home."""
    if (
        isinstance(target, str)
        and target.startswith("/")
        and not target.startswith("//")
        and not any(bad in target for bad in ("\\", "\n", "\r"))
    ):
        return target
    return "/"


async def sign_in_form(request: Request) -> Response:
    page = await begin(request)
    if page.user is not None:
        return page.redirect(safe_next(request.query_params.get("next")))
    return page.render("sign_in.html", next=safe_next(request.query_params.get("next")))


async def sign_in(request: Request) -> Response:
    page = await begin(request)
    form = await page.form()
    email = str(form.get("email", "")).strip()[:320]
    password = str(form.get("password", ""))
    target = safe_next(form.get("next"))

    def refuse(message: str, status: int) -> Response:
        return page.render("sign_in.html", status, next=target, email=email, error=message)

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
    if page.session_id is not None:  # signing in again, perhaps as someone else
        await sessions.end_session(page.ctx.db, page.session_id)
    _, signed_in = await sessions.start_session(
        page.ctx.db,
        kind=sessions.WEB,
        user_id=principal.user.id,
        client=request.headers.get("user-agent"),
        lifetime=session_cookie.MAX_AGE,
        now=page.ctx.now(),
    )
    page.session = session_cookie.new_session(page.ctx, signed_in)
    page.new_session = True
    return page.redirect(target)


async def sign_out(request: Request) -> Response:
    """End the session on the server, so that its cookie is worth nothing anywhere."""
    page = await begin(request)
    await page.form()
    if page.session_id is not None:
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
