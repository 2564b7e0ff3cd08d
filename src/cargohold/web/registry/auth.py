"""Who is calling /v2, and whether they may: bearer tokens, Basic credentials, or nobody.

Bearer tokens are checked by signature alone (no database round trip); Basic
credentials and anonymous calls look the caller's role up.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import socket
from dataclasses import dataclass

from starlette.requests import Request

from cargohold.authz.errors import TokenInvalid
from cargohold.authz.roles import Action, Role
from cargohold.authz.tokens import Claims
from cargohold.config import Settings
from cargohold.oci.errors import Denied, NameUnknown, TooManyRequests, Unauthorized
from cargohold.services.accounts import logins, principals
from cargohold.services.accounts.principals import ANONYMOUS, Principal
from cargohold.services.context import Context
from cargohold.services.registry import bearer_tokens, mirrors, packages, pull_through
from cargohold.web.actors import identify_claims, identify_principal

log = logging.getLogger("cargohold.registry")

_CHALLENGE_ACTIONS = {
    Action.PULL: "pull",
    Action.PUSH: "pull,push",
    Action.DELETE_TAG: "delete",
    Action.DELETE_IMAGE: "delete",
}


@dataclass(frozen=True, slots=True)
class Caller:
    """The outcome of authentication: open (auth = none), a bearer token's claims, or a
    principal found from Basic credentials or nobody."""

    ctx: Context
    open: bool = False
    claims: Claims | None = None
    principal: Principal = ANONYMOUS
    credentials: bool = False

    async def role(self, name: str) -> Role:
        if self.open:
            return Role.ADMIN
        if self.claims is not None:
            grant = self.claims.grants.get(name)
            return grant.role if grant is not None else Role.NONE
        if self.principal is ANONYMOUS:
            return await _anonymous_role(self.ctx, name)
        return (await principals.package_access(self.ctx.db, self.principal, name)).role

    async def may(self, name: str, action: Action) -> bool:
        if self.open:
            return True
        if self.claims is not None:
            return self.claims.allows(name, action)
        return (await self.role(name)) >= action.required

    @property
    def actor(self) -> str | None:
        """Who is calling, for people to read (recorded on what they push)."""
        if self.claims is not None:
            return self.claims.name
        return self.principal.display

    async def subject(self) -> Principal:
        if self.claims is not None:
            return await principals.principal_for_subject(self.ctx.db, self.claims.subject)
        return self.principal


async def _anonymous_role(ctx: Context, name: str) -> Role:
    """What anybody may do with a package (READ when public), kept in the read cache: an
    anonymous pull of a public package then costs no more than one with `auth = none`."""
    key = ("anonymous", name)
    role: Role | None = ctx.reads.get(ctx.db, key)
    if role is None:
        mark = ctx.reads.current(ctx.db)
        role = (await principals.package_access(ctx.db, ANONYMOUS, name)).role
        ctx.reads.put(mark, key, role, 100)
    return role


async def _reads_mirror(caller: Caller, name: str) -> bool:
    """A mirror's package not held yet is read with the role on the mirror's repository
    (bearer tokens get the same at /token)."""
    if caller.claims is not None:
        return False
    role = await pull_through.reader_role(caller.ctx, caller.principal, name)
    return role is not None and role >= Action.PULL.required


async def _created_on_push(caller: Caller, name: str) -> bool:
    """With Basic credentials, a push to a missing package may create it where the workspace
    allows it (bearer tokens get the same at /token, when push is asked for)."""
    if caller.claims is not None or not caller.credentials:
        return False
    ctx = caller.ctx
    if (await principals.package_access(ctx.db, caller.principal, name)).exists:
        return False
    return await packages.create_on_push(ctx, caller.principal, name) >= Action.PUSH.required


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _own_url(settings: Settings) -> str:
    """This server as its settings name it: the address it listens on, or the machine's
    name when it listens on every address."""
    host = settings.host
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host}]"
    return f"{'https' if settings.tls_cert else 'http'}://{host}:{settings.port}"


_warned = False


def public_base(request: Request) -> str:
    """The registry's root URL, as clients are told to use it (the token realm): the
    configured `public_url`. Without one, the URL the client used only when it names a
    loopback address (development on one machine); any other Host header could be a
    client's invention, so the server's own address stands in, and the operator is told
    once to set `public_url`."""
    settings: Settings = request.app.state.context.settings
    if settings.public_url:
        return settings.public_url
    if _is_loopback(request.url.hostname):
        return str(request.base_url).rstrip("/")
    own = _own_url(settings)
    global _warned
    if not _warned:
        _warned = True
        log.warning(
            "a client reached this registry as %r, but public_url is not set: the token"
            " realm names %s instead; set CARGOHOLD_PUBLIC_URL to the URL clients use",
            request.url.netloc[:100],
            own,
        )
    return own


def challenge(request: Request, *, scope: str | None = None, error: str | None = None) -> str:
    ctx: Context = request.app.state.context
    realm = f"{public_base(request)}/token"
    parts = [f'realm="{realm}"', f'service="{ctx.settings.token_service}"']
    if scope:
        parts.append(f'scope="{scope}"')
    if error:
        parts.append(f'error="{error}"')
    return "Bearer " + ",".join(parts)


def unauthorized(
    request: Request, message: str, *, scope: str | None = None, error: str | None = None
) -> Unauthorized:
    return Unauthorized(
        message, headers={"WWW-Authenticate": challenge(request, scope=scope, error=error)}
    )


def basic_credentials(header: str) -> tuple[str, str] | None:
    try:
        decoded = base64.b64decode(header, validate=True).decode()
    except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII text
        return None
    username, sep, secret = decoded.partition(":")
    return (username, secret) if sep else None


async def authenticate(request: Request) -> Caller:
    ctx: Context = request.app.state.context
    if ctx.settings.auth == "none":
        return Caller(ctx, open=True)
    header = request.headers.get("authorization")
    if not header:
        return Caller(ctx)
    kind, _, value = header.strip().partition(" ")
    value = value.strip()
    if kind.lower() == "bearer" and value:
        try:
            claims = bearer_tokens.verify(ctx, value)
        except TokenInvalid as exc:
            raise unauthorized(
                request,
                f"the bearer token is not valid: {exc}; log in again",
                error="invalid_token",
            ) from None
        return Caller(ctx, claims=claims, credentials=True)
    if kind.lower() == "basic" and value:
        credentials = basic_credentials(value)
        if credentials is None:
            raise unauthorized(request, "malformed Basic credentials")
        address = request.client.host if request.client else None
        try:
            principal = await logins.authenticate(
                ctx, username=credentials[0], secret=credentials[1], address=address
            )
        except logins.TooManyAttempts as exc:
            raise TooManyRequests(str(exc), headers={"Retry-After": str(exc.retry_after)}) from None
        except logins.LoginFailed as exc:
            raise unauthorized(request, exc.message) from None
        return Caller(ctx, principal=principal, credentials=True)
    raise unauthorized(request, "unsupported Authorization header; use Bearer or Basic")


def identify(caller: Caller) -> None:
    """Name the caller as who acts in this request, for the events its change records
    (inside `web.actors.request_actor`)."""
    if caller.claims is not None:
        identify_claims(caller.claims)
    elif not caller.open:
        identify_principal(caller.principal)


async def require(request: Request, caller: Caller, name: str, action: Action) -> None:
    """Refuse the call unless the caller may perform `action` on package `name`."""
    if action is Action.PUSH and (caller.credentials or caller.open):
        await mirrors.refuse_push(caller.ctx.db, name)  # a mirror's packages are read-only
    if await caller.may(name, action):
        return
    if action is Action.PULL and await _reads_mirror(caller, name):
        return
    if action is Action.PUSH and await _created_on_push(caller, name):
        return
    scope = f"repository:{name}:{_CHALLENGE_ACTIONS[action]}"
    if not caller.credentials:
        raise unauthorized(request, "authentication required", scope=scope)
    if caller.claims is not None and name not in caller.claims.grants:
        raise unauthorized(
            request,
            "the token does not cover this repository",
            scope=scope,
            error="insufficient_scope",
        )
    role = await caller.role(name)
    if role < Role.READ:
        hint = (
            "log in as someone who may pull it"
            if action is Action.PULL
            else "a package must be created and linked to a source repository before the"
            f" first push: cargohold package create {name} --repo REPO"
        )
        raise NameUnknown(
            f"repository {name!r} does not exist or you may not access it; {hint}",
            detail={"name": name},
        )
    if caller.claims is not None and role >= action.required:
        raise unauthorized(
            request,
            "the token does not carry this action",
            scope=scope,
            error="insufficient_scope",
        )
    raise Denied(
        f"your {role.label} access to {name!r} does not allow this; it needs"
        f" {action.required.label}",
        detail={"name": name, "role": role.label, "required": action.required.label},
    )
