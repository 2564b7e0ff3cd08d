"""Who acts in each request, for the events it records (services/events/actors.py).

A request acts as anonymous, from the client's address (as `proxy.py` found it behind a
trusted proxy), with the request id `observe.py` gave it, until its surface names the
caller once it has authenticated it: `identify_principal` (the API and the UI),
`identify_claims` (a /v2 bearer token). `RequestActor` does this around the API and the
UI; /v2 binds an actor (`request_actor`) around the requests that change something only,
so that pulls pay for nothing (an ASGI layer costs microseconds).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.types import ASGIApp, Receive, Scope, Send

from cargohold.authz.tokens import Claims
from cargohold.services.accounts.principals import Principal
from cargohold.services.events import actors
from cargohold.web import observe

_ROBOT_SUFFIX = re.compile(r" \((?:repository|workspace) access token\)$")


@contextmanager
def request_actor(scope: Scope) -> Iterator[None]:
    """Act, while the block runs, as this request's anonymous caller; `identify_*` names it.
    The request id is the one `observe.py` gave the request (its log line, its
    `X-Request-ID` answer): a trusted proxy's, or one made up there."""
    client = scope.get("client")
    info = observe.request_info(scope)
    token = actors.begin_request(client[0] if client else None, info.id if info else None)
    try:
        yield
    finally:
        actors.end(token)


class RequestActor:
    """ASGI middleware: each HTTP request acts as anonymous until its surface says who."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with request_actor(scope):
            await self.app(scope, receive, send)


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
