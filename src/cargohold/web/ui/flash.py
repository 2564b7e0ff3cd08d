"""One-time flashes: what a POST made, shown once by the page it redirects to
(post/redirect/get), such as a new token's secret or an invitation link.

A flash is a cookie for that page only, encrypted and authenticated with a key derived
from the session key (and the flash's name), bound to the browser's session, good for
five minutes, and deleted by the page that shows it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.requests import Request
from starlette.responses import Response

from cargohold.web.ui import session_cookie
from cargohold.web.ui.page import Page

AGE = 300  # seconds


def _cipher(page: Page, name: str) -> AESGCM:
    key = session_cookie._key(page.ctx)  # the session key, never sent anywhere
    return AESGCM(hashlib.sha256(key + b"cargohold flash " + name.encode()).digest())


def cookie_options(request: Request, path: str | None = None) -> dict[str, Any]:
    return {
        "path": path or request.url.path,
        "httponly": True,
        "samesite": "strict",
        "secure": request.url.scheme == "https",
    }


def put(page: Page, response: Response, name: str, data: dict[str, Any], path: str) -> None:
    """Give `response` the flash `name` holding `data`, for the page at `path`."""
    sealed = dict(data) | {"session": page.session.csrf, "at": page.ctx.now()}
    nonce = os.urandom(12)
    value = _cipher(page, name).encrypt(nonce, json.dumps(sealed).encode(), name.encode())
    flash = base64.urlsafe_b64encode(nonce + value).decode()
    response.set_cookie(name, flash, max_age=AGE, **cookie_options(page.request, path))


def take(page: Page, name: str) -> dict[str, Any]:
    """The flash `name` of this request, when genuine, of this session and fresh; else {}."""
    value = page.request.cookies.get(name)
    if not value:
        return {}
    try:
        raw = base64.urlsafe_b64decode(value)
        data = json.loads(_cipher(page, name).decrypt(raw[:12], raw[12:], name.encode()))
        fresh = float(data["at"]) + AGE >= page.ctx.now()
        if isinstance(data, dict) and fresh and data["session"] == page.session.csrf:
            return data
    except (ValueError, KeyError, TypeError, InvalidTag):
        pass
    return {}


def forget(page: Page, response: Response, name: str) -> None:
    """Delete the flash `name`, once its page has shown it."""
    if name in page.request.cookies:
        response.delete_cookie(name, **cookie_options(page.request))
