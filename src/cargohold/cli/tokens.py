"""`cargohold token` commands: API tokens for people, access tokens for robots."""

from __future__ import annotations

from typing import Annotated

import typer

from cargohold.cli.common import run
from cargohold.cli.options import ConfigOption, DataDirOption
from cargohold.metadata.db import Queries
from cargohold.services.accounts import directory, sessions, tokens
from cargohold.services.context import Context

app = typer.Typer(no_args_is_help=True, help="API tokens and access tokens.")

ScopeOption = Annotated[
    list[str],
    typer.Option("--scope", help="read:package, write:package or admin:package; repeatable."),
]
ExpiresOption = Annotated[
    str | None,
    typer.Option("--expires", help="Lifetime such as 30d, 12h or 1y; 'never' where allowed."),
]


def _expiry(ctx: Context, text: str | None) -> float | None:
    return tokens.token_expiry(
        text,
        now=ctx.now(),
        max_days=ctx.settings.token_max_days,
        allow_never=ctx.settings.allow_tokens_without_expiry,
    )


@app.command("create")
def token_create(
    email: str,
    name: Annotated[str, typer.Option("--name", help="What the token is for.")],
    scope: ScopeOption,
    expires: ExpiresOption = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a personal API token; prints only the token, so TOKEN=$(...) works."""

    async def use_case(ctx: Context, tx: Queries) -> str:
        user = await directory.find_user(tx, email)
        _, secret = await tokens.create_token(
            tx,
            kind="personal",
            name=name,
            scopes=scope,
            expires_at=_expiry(ctx, expires),
            now=ctx.now(),
            user_id=user.id,
        )
        return secret

    typer.echo(run(config, data_dir, use_case))


@app.command("create-access")
def access_token_create(
    owner: Annotated[str, typer.Argument(metavar="WORKSPACE or WORKSPACE/REPO")],
    name: Annotated[str, typer.Option("--name", help="What the token is for.")],
    scope: ScopeOption,
    expires: ExpiresOption = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create an access token for a repository or a workspace (a robot, for CI and deploy
    hosts); prints only the token."""

    async def use_case(ctx: Context, tx: Queries) -> str:
        if "/" in owner:
            repository = await directory.find_repository(tx, owner)
            kind, ids = "repository", {"repository_id": repository.id}
        else:
            kind, ids = "workspace", {"workspace_id": await directory.find_workspace(tx, owner)}
        _, secret = await tokens.create_token(
            tx,
            kind=kind,
            name=name,
            scopes=scope,
            expires_at=_expiry(ctx, expires),
            now=ctx.now(),
            **ids,
        )
        return secret

    typer.echo(run(config, data_dir, use_case))


@app.command("revoke")
def token_revoke(
    token_id: Annotated[
        str, typer.Argument(help="The token's id (the part after the prefix), or a session's.")
    ],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Revoke a token at once; or end a session in the web UI or a refresh token (see
    `cargohold user sessions`)."""

    async def use_case(ctx: Context, tx: Queries) -> None:
        if await sessions.end_session(tx, token_id):
            return
        await tokens.revoke_token(tx, token_id, now=ctx.now())

    run(config, data_dir, use_case)
