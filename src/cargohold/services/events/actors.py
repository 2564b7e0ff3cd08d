"""Who acts, and from where: set once per request by the web layer (and once per command by
the CLI), read by `outbox.record`, so that no service signature has to carry it.

The web layer starts every request with `begin_request` (the client address, the request
id) and names the caller with `identify` once it is authenticated; the actor is one object
per request, changed in place, so what `identify` says is seen by everything the request
runs, whichever context copy it runs in. Outside any request the actor is the system.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

USER = "user"
TOKEN = "token"  # an access token (a robot)
SYSTEM = "system"
ANONYMOUS = "anonymous"
KINDS = (USER, TOKEN, SYSTEM, ANONYMOUS)


@dataclass(slots=True)
class Actor:
    kind: str = SYSTEM
    id: str | None = None  # a user's id, or an access token's id
    name: str | None = None  # an email, a token's name, `cli:USER`: never a secret
    client_address: str | None = None
    request_id: str | None = None
    token_id: str | None = None  # the personal API token a person acts through


_current: contextvars.ContextVar[Actor] = contextvars.ContextVar("cargohold_actor")


def current() -> Actor:
    """The actor of this request or command; the system when none was set."""
    return _current.get(None) or Actor()


def begin_request(client_address: str | None, request_id: str | None) -> contextvars.Token[Actor]:
    """A request starts: anonymous until `identify` says who it is. Reset with `end`."""
    return _current.set(Actor(ANONYMOUS, client_address=client_address, request_id=request_id))


def end(token: contextvars.Token[Actor]) -> None:
    _current.reset(token)


def act_as(actor: Actor) -> contextvars.Token[Actor]:
    """Act as `actor` from now on in this context (a CLI command, a background task)."""
    return _current.set(actor)


def identify(
    kind: str, *, id: str | None = None, name: str | None = None, token_id: str | None = None
) -> None:
    """Say who the current request acts as, once it is authenticated."""
    assert kind in KINDS
    actor = _current.get(None)
    if actor is None:
        _current.set(Actor(kind, id, name, token_id=token_id))
        return
    actor.kind, actor.id, actor.name, actor.token_id = kind, id, name, token_id
