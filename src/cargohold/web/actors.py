"""Who acts in each request, for the events it records (services/events/actors.py).

`RequestActor` starts every HTTP request as anonymous, from the client's address (as
`proxy.py` found it behind a trusted proxy) with the request id the client or a proxy sent
in `X-Request-ID`; each surface then names the caller once it has authenticated it:
`identify_principal` (the API and the UI), `identify_claims` (a /v2 bearer token)."""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from cargohold.authz.tokens import Claims
from cargohold.services.accounts.principals import Principal
from cargohold.services.events import actors

_REQUEST_ID = re.compile(r"[!-~]{1,128}")  # printable ASCII, no spaces
_ROBOT_SUFFIX = re.compile(r" \((?:repository|workspace) access token\)$")


def request_id(headers: Headers) -> str | None:
    value = headers.get("x-request-id", "").strip()
    return value if _REQUEST_ID.fullmatch(value) else None


class RequestActor:
    """ASGI middleware: each HTTP request acts as anonymous until its surface says who."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else None
        token = actors.begin_request(address, request_id(Headers(scope=scope)))
        try:
            await self.app(scope, receive, send)
        finally:
            actors.end(token)


def identify_principal(principal: Principal) -> None:
    """The request acts as this person (through a personal token, perhaps) or robot."""
    token = principal.token
    if principal.federation is not None:  # a CI job logged in with its ID token
        actors.identify(actors.TOKEN, id=principal.subject, name=principal.display)
    elif principal.robot and token is not None:
        actors.identify(actors.TOKEN, id=token.id, name=token.name)
    elif principal.user is not None:
        actors.identify(
            actors.USER,
            id=str(principal.user.id),
            name=principal.user.email,
            token_id=token.id if token is not None else None,
        )
    else:
        actors.identify(actors.ANONYMOUS)


def identify_claims(claims: Claims) -> None:
    """The request acts as the subject of a registry bearer token (`user:ID[:TOKEN]`,
    `robot:TOKEN` or `anonymous`), by the name the token carries."""
    kind, _, rest = claims.subject.partition(":")
    if kind == "robot":
        name = _ROBOT_SUFFIX.sub("", claims.name) if claims.name else None
        actors.identify(actors.TOKEN, id=rest, name=name)
    elif kind == "user":
        user_id, _, token_id = rest.partition(":")
        actors.identify(actors.USER, id=user_id, name=claims.name, token_id=token_id or None)
    elif kind == "oidc":  # a CI job logged in with its ID token: `oidc:POLICY.POLICY...`
        actors.identify(actors.TOKEN, id=claims.subject, name=claims.name)
    else:
        actors.identify(actors.ANONYMOUS)
