"""The session cookie: which signed-in session this browser holds, when the cookie was made,
and the CSRF token of its forms.

The cookie is `base64url(json).base64url(HMAC-SHA256)`. The key is derived from the
registry's signing key (so every node of a cluster that shares that key accepts the
same cookies); without one (`--auth none`) it is made per process. A signed-in cookie
carries the text of a session row (services/accounts/sessions.py), which every request
checks: signing out deletes the row, and the cookie is worth nothing from then on, on
every node. A visitor who has not signed in gets a cookie without a session (for the
CSRF token of the sign-in form), which needs no row.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from starlette.requests import Request
from starlette.responses import Response

from cargohold.services.context import Context

COOKIE = "cargohold_session"
MAX_AGE = 12 * 3600
_PROCESS_KEY = secrets.token_bytes(32)


@dataclass(frozen=True, slots=True)
class Session:
    signed_in: str | None  # the text of the session row; None: not signed in
    csrf: str
    issued_at: float


def _key(ctx: Context) -> bytes:
    key = ctx.signing_key
    if key is None:
        return _PROCESS_KEY
    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return hmac.new(raw, b"cargohold web session v2", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(ctx: Context, session: Session) -> str:
    body = _b64(
        json.dumps({"s": session.signed_in, "c": session.csrf, "t": session.issued_at}).encode()
    )
    signature = hmac.new(_key(ctx), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(signature)}"


def decode(ctx: Context, value: str | None) -> Session | None:
    """The session in a cookie value, if it is genuine and not too old."""
    if not value or "." not in value:
        return None
    body, _, signature = value.partition(".")
    expected = hmac.new(_key(ctx), body.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(signature)):
            return None
        data: dict[str, Any] = json.loads(_unb64(body))
        session = Session(data["s"], str(data["c"]), float(data["t"]))
    except (ValueError, KeyError, TypeError):
        return None
    if session.signed_in is not None and not isinstance(session.signed_in, str):
        return None
    if session.issued_at + MAX_AGE < ctx.now():
        return None
    return session


def new_session(ctx: Context, signed_in: str | None) -> Session:
    """A cookie's session with a new CSRF token: for a session row's text, or for a visitor."""
    return Session(signed_in, secrets.token_urlsafe(32), ctx.now())


def current(request: Request) -> Session | None:
    ctx: Context = request.app.state.context
    return decode(ctx, request.cookies.get(COOKIE))


def store(request: Request, response: Response, session: Session) -> None:
    """Set the cookie: HttpOnly, SameSite=Lax, and Secure when the request came over TLS."""
    ctx: Context = request.app.state.context
    response.set_cookie(
        COOKIE,
        encode(ctx, session),
        max_age=MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="lax", secure=request.url.scheme == "https"
    )


def seal(ctx: Context, purpose: str, data: dict[str, Any]) -> str:
    """`data` signed for one purpose (a cookie other than the session's), with the time."""
    key = hmac.new(_key(ctx), purpose.encode(), hashlib.sha256).digest()
    body = _b64(json.dumps({**data, "t": ctx.now()}).encode())
    return f"{body}.{_b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"


def unseal(ctx: Context, purpose: str, value: str | None, *, max_age: float) -> dict[str, Any]:
    """What `seal` signed for this purpose, if genuine and younger than `max_age` seconds;
    an empty dict otherwise."""
    if not value or "." not in value:
        return {}
    body, _, signature = value.partition(".")
    key = hmac.new(_key(ctx), purpose.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, body.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(signature)):
            return {}
        data = json.loads(_unb64(body))
        if not isinstance(data, dict) or float(data["t"]) + max_age < ctx.now():
            return {}
    except (ValueError, KeyError, TypeError):
        return {}
    return data
