"""Sessions in a signed cookie: who signed in, when, and the CSRF token of their forms.

The cookie is `base64url(json).base64url(HMAC-SHA256)`. The key is derived from the
registry's signing key (so every node of a cluster that shares that key accepts the
same sessions); without one (`--auth none`) it is made per process.
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
    user_id: int | None
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
    return hmac.new(raw, b"cargohold web session v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(ctx: Context, session: Session) -> str:
    body = _b64(
        json.dumps({"u": session.user_id, "c": session.csrf, "t": session.issued_at}).encode()
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
        session = Session(data["u"], str(data["c"]), float(data["t"]))
    except (ValueError, KeyError, TypeError):
        return None
    if session.user_id is not None and not isinstance(session.user_id, int):
        return None
    if session.issued_at + MAX_AGE < ctx.now():
        return None
    return session


def new_session(ctx: Context, user_id: int | None) -> Session:
    return Session(user_id, secrets.token_urlsafe(32), ctx.now())


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
