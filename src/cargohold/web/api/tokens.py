"""/user (who you are), /user/tokens (your API tokens, sessions and refresh tokens) and the
access tokens of workspaces and repositories. A token's secret is in the answer to its
creation only."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from cargohold.services.accounts.checked import tokens
from cargohold.services.accounts.principals import require_person
from cargohold.services.accounts.sessions import Session
from cargohold.services.accounts.tokens import Token
from cargohold.services.context import Context
from cargohold.web.api.deps import CurrentContext, CurrentPrincipal, DbTx
from cargohold.web.api.models import Body, Items, maybe_timestamp, timestamp
from cargohold.web.api.problems import responses

router = APIRouter(tags=["tokens"], responses=responses(401, 403, 404, 422))

Scope = Literal["read:package", "write:package", "admin:package"]


class UserOut(BaseModel):
    email: str
    display_name: str
    site_admin: bool
    token_scopes: list[Scope] = Field(description="The scopes of the token you called with.")


class TokenOut(BaseModel):
    id: str
    name: str
    kind: Literal["personal", "repository", "workspace", "session", "refresh"] = Field(
        description="personal, repository, workspace: API and access tokens; in your own list"
        " also session (a sign-in to the web UI) and refresh (a refresh token from /token,"
        " as `docker login` keeps): revoking one ends it."
    )
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None = Field(description="null: never expires.")
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: Token) -> TokenOut:
        return cls.model_validate(_fields(token))


class CreatedTokenOut(TokenOut):
    token: str = Field(description="The secret: shown this once, never again.")


def _fields(token: Token) -> dict[str, object]:
    return {
        "id": token.id,
        "name": token.name,
        "kind": token.kind,
        "scopes": sorted(token.scopes),
        "created_at": timestamp(token.created_at),
        "last_used_at": maybe_timestamp(token.last_used_at),
        "expires_at": maybe_timestamp(token.expires_at),
        "revoked_at": maybe_timestamp(token.revoked_at),
    }


_EVERY_SCOPE = ["admin:package", "read:package", "write:package"]


def _session(session: Session) -> TokenOut:
    """A session or refresh token, listed like a token: what it may do is what it was made
    with (a password: everything the person may do)."""
    if session.kind == "web":
        client = f" ({session.client})" if session.client else ""
        kind, name = "session", f"web UI session{client}"
    else:
        made_with = f"API token {session.token_name}" if session.token_name else "a password login"
        kind, name = "refresh", f"refresh token from {made_with}"
    scopes = _EVERY_SCOPE if session.token_scopes is None else sorted(session.token_scopes)
    return TokenOut.model_validate(
        {
            "id": session.id,
            "name": name[:300],
            "kind": kind,
            "scopes": scopes,
            "created_at": timestamp(session.created_at),
            "last_used_at": maybe_timestamp(session.last_used_at),
            "expires_at": timestamp(session.expires_at),
            "revoked_at": None,
        }
    )


def _created(made: tuple[Token, str]) -> CreatedTokenOut:
    token, secret = made
    return CreatedTokenOut.model_validate({**_fields(token), "token": secret})


class TokenIn(Body):
    name: str = Field(min_length=1, max_length=100, description="What the token is for.")
    scopes: list[Scope] = Field(min_length=1)
    expires_in: str = Field(
        default="30d",
        max_length=16,
        description="Lifetime such as 30d, 12h or 1y; `never` where the site allows it.",
    )

    def token_request(self, ctx: Context) -> tokens.TokenRequest:
        """What the create use cases take: this body, the site's settings and the time."""
        return {
            "name": self.name,
            "scopes": list(self.scopes),
            "expires_in": self.expires_in,
            "settings": ctx.settings,
            "now": ctx.now(),
        }


_WORKSPACE = "/workspaces/{workspace}/access-tokens"
_REPOSITORY = "/workspaces/{workspace}/repositories/{repository}/access-tokens"


@router.get("/user")
async def get_user(principal: CurrentPrincipal) -> UserOut:
    """Who the token you call with belongs to."""
    user = require_person(principal)
    scopes = sorted(principal.token.scopes) if principal.token else []
    return UserOut.model_validate(
        {
            "email": user.email,
            "display_name": user.display_name,
            "site_admin": user.is_admin,
            "token_scopes": scopes,
        }
    )


@router.get("/user/tokens")
async def list_personal_tokens(
    tx: DbTx, ctx: CurrentContext, principal: CurrentPrincipal
) -> Items[TokenOut]:
    """Your API tokens, revoked and expired ones included, then your sessions in the web UI
    and your refresh tokens that have not expired; never their secrets. Revoke any of them
    by its id."""
    found = [TokenOut.of(t) for t in await tokens.list_personal_tokens(tx, principal)]
    found += [_session(s) for s in await tokens.list_sessions(tx, principal, now=ctx.now())]
    return Items(items=found)


@router.post("/user/tokens", status_code=status.HTTP_201_CREATED)
async def create_personal_token(
    body: TokenIn, tx: DbTx, ctx: CurrentContext, principal: CurrentPrincipal
) -> CreatedTokenOut:
    """Make an API token for yourself; its secret is in this answer only."""
    return _created(await tokens.create_personal_token(tx, principal, **body.token_request(ctx)))


@router.delete(
    "/user/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
async def revoke_personal_token(
    token_id: str, tx: DbTx, ctx: CurrentContext, principal: CurrentPrincipal
) -> None:
    """Revoke one of your tokens; it stops working at once."""
    await tokens.revoke_personal_token(tx, principal, token_id, now=ctx.now())


@router.get(_WORKSPACE)
async def list_workspace_tokens(
    workspace: str, tx: DbTx, principal: CurrentPrincipal
) -> Items[TokenOut]:
    """The workspace's access tokens (owners)."""
    found = await tokens.list_access_tokens(tx, principal, "workspace", workspace)
    return Items(items=[TokenOut.of(t) for t in found])


@router.post(_WORKSPACE, status_code=status.HTTP_201_CREATED)
async def create_workspace_token(
    workspace: str, body: TokenIn, tx: DbTx, ctx: CurrentContext, principal: CurrentPrincipal
) -> CreatedTokenOut:
    """An access token acting on every package of the workspace (owners)."""
    made = await tokens.create_access_token(
        tx, principal, "workspace", workspace, **body.token_request(ctx)
    )
    return _created(made)


@router.delete(
    f"{_WORKSPACE}/{{token_id}}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
async def revoke_workspace_token(
    workspace: str, token_id: str, tx: DbTx, ctx: CurrentContext, principal: CurrentPrincipal
) -> None:
    await tokens.revoke_access_token(tx, principal, "workspace", workspace, token_id, now=ctx.now())


@router.get(_REPOSITORY)
async def list_repository_tokens(
    workspace: str, repository: str, tx: DbTx, principal: CurrentPrincipal
) -> Items[TokenOut]:
    """The repository's access tokens (repository admins)."""
    found = await tokens.list_access_tokens(
        tx, principal, "repository", f"{workspace}/{repository}"
    )
    return Items(items=[TokenOut.of(t) for t in found])


@router.post(_REPOSITORY, status_code=status.HTTP_201_CREATED)
async def create_repository_token(
    workspace: str,
    repository: str,
    body: TokenIn,
    tx: DbTx,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
) -> CreatedTokenOut:
    """An access token acting on the repository's packages (repository admins)."""
    made = await tokens.create_access_token(
        tx, principal, "repository", f"{workspace}/{repository}", **body.token_request(ctx)
    )
    return _created(made)


@router.delete(
    f"{_REPOSITORY}/{{token_id}}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
async def revoke_repository_token(
    workspace: str,
    repository: str,
    token_id: str,
    tx: DbTx,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
) -> None:
    await tokens.revoke_access_token(
        tx, principal, "repository", f"{workspace}/{repository}", token_id, now=ctx.now()
    )
