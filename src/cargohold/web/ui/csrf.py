"""CSRF protection: every form carries the session's token, and every POST must match it.

A visitor without a session gets an anonymous one (with a token) on the first page, so
the sign-in form is protected too. SameSite=Lax cookies are a second line.
"""

from __future__ import annotations

import hmac

from starlette.datastructures import FormData

from cargohold.services.errors import ServiceError
from cargohold.web.ui.session_cookie import Session

FIELD = "csrf"


class CsrfFailed(ServiceError):
    """A form came without the token of the session it was sent with: a 403, rendered by
    the UI's one error handler like every service error."""

    status = 403

    def __init__(self) -> None:
        super().__init__("the form has expired; go back, reload the page and try again")


def check(session: Session | None, form: FormData) -> None:
    sent = form.get(FIELD)
    if session is None or not isinstance(sent, str) or not sent:
        raise CsrfFailed()
    if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise CsrfFailed()
