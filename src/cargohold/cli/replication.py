"""`cargohold replication` commands: copying every push to a remote registry
(docs/replication.md)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated

import typer

from cargohold.cli.common import run
from cargohold.cli.options import ConfigOption, DataDirOption
from cargohold.config import load_settings
from cargohold.metadata.db import Queries
from cargohold.services import outbound
from cargohold.services.accounts import directory
from cargohold.services.context import Context
from cargohold.services.errors import Invalid, ServiceError
from cargohold.services.registry.replication import jobs, remotes, rules

app = typer.Typer(no_args_is_help=True, help="Replication: copy every push to a remote registry.")


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", fg="red", err=True)
    return typer.Exit(code)


@app.command("create")
def replication_create(
    scope: Annotated[str, typer.Argument(metavar="WORKSPACE[/PACKAGE]")],
    url: Annotated[str, typer.Option("--url", help="The remote registry (https://HOST[:PORT]).")],
    prefix: Annotated[
        str, typer.Option("--prefix", help="Where packages go: WS/NAME becomes PREFIX/NAME.")
    ] = "",
    username: Annotated[
        str | None, typer.Option("--username", help="A user name at the remote.")
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the remote's password from standard input."),
    ] = False,
    inactive: Annotated[bool, typer.Option("--inactive", help="Make it turned off.")] = False,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Copy every push to WORKSPACE (or to one of its packages) from now on to URL."""
    workspace, _, package = scope.partition("/")
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    if (username is None) != (password is None):
        raise _fail("give --username with --password-stdin, or neither", 2)
    settings = load_settings(config, data_dir=data_dir)
    try:
        checked = rules.check_url(url)
        name_prefix = rules.parse_prefix(prefix)
        user, secret = rules.parse_credentials(username, password)
        try:
            asyncio.run(remotes.check(checked, settings))
        except outbound.OutboundError as exc:
            raise Invalid(f"remote URL {outbound.redact(checked)}: {exc.message}") from None
    except ServiceError as exc:
        raise _fail(exc.message) from None

    async def use_case(ctx: Context, tx: Queries) -> str:
        workspace_id = await directory.find_workspace(tx, workspace)
        name = rules.parse_package(workspace, package)
        made = await rules.create_replication(
            tx,
            workspace_id=workspace_id,
            package=name,
            url=checked,
            username=user,
            sealed=None if secret is None else rules.seal_password(ctx, secret),
            prefix=name_prefix,
            active=not inactive,
            created_by=None,
            now=ctx.now(),
        )
        what = made.package or f"every package of {made.workspace}"
        return f"replication {made.id}: {what} to {outbound.redact(made.url)}/{made.prefix}"

    typer.echo(run(config, data_dir, use_case))


@app.command("list")
def replication_list(
    workspace: Annotated[str, typer.Argument(metavar="WORKSPACE")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """The replication rules of a workspace, with their status."""

    async def use_case(ctx: Context, tx: Queries) -> list[tuple[rules.Replication, dict[str, int]]]:
        workspace_id = await directory.find_workspace(tx, workspace)
        found = await rules.list_replications(tx, workspace_id=workspace_id)
        return [(rule, await jobs.counts(tx, replication_id=rule.id)) for rule in found]

    for rule, counts in run(config, data_dir, use_case):
        fields = {
            "id": rule.id,
            "package": rule.package or None,
            "url": outbound.redact(rule.url),
            "prefix": rule.prefix,
            "username": rule.username,
            "active": rule.active,
            "last_success_at": rule.last_success_at,
            "last_error": rule.last_error,
            "jobs": counts,
        }
        if as_json:
            typer.echo(json.dumps(fields, sort_keys=True))
            continue
        what = rule.package or f"{rule.workspace}/*"
        state = "on" if rule.active else "off"
        line = f"{rule.id}  {what}  ->  {fields['url']}/{rule.prefix}  {state}"
        line += f"  pending {counts['pending']}  done {counts['done']}  failed {counts['failed']}"
        if rule.last_error:
            line += f"  last error: {rule.last_error[:120]}"
        typer.echo(line)


@app.command("delete")
def replication_delete(
    workspace: Annotated[str, typer.Argument(metavar="WORKSPACE")],
    replication_id: Annotated[int, typer.Argument(metavar="ID", min=1, max=2**31 - 1)],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Delete a rule and its jobs; what the remote has stays."""

    async def use_case(ctx: Context, tx: Queries) -> None:
        workspace_id = await directory.find_workspace(tx, workspace)
        found = await rules.get_replication(
            tx, workspace_id=workspace_id, replication_id=replication_id
        )
        await rules.delete_replication(tx, found, now=ctx.now())

    run(config, data_dir, use_case)
