"""`cargohold mirror` commands: pull-through caches of upstream registries (docs/mirror.md)."""

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
from cargohold.services.registry import mirrors

app = typer.Typer(no_args_is_help=True, help="Mirrors: pull-through caches of other registries.")


def _split(name: str) -> tuple[str, str]:
    workspace, sep, prefix = name.partition("/")
    if not sep or not workspace or "/" in prefix:
        typer.secho("error: name the mirror as WORKSPACE/PREFIX, e.g. acme/hub", fg="red", err=True)
        raise typer.Exit(2)
    return workspace, prefix


@app.command("create")
def mirror_create(
    name: Annotated[str, typer.Argument(metavar="WORKSPACE/PREFIX")],
    upstream: Annotated[
        str, typer.Option("--upstream", help="The upstream registry's base URL (https://...).")
    ],
    username: Annotated[
        str | None, typer.Option("--username", help="A user name at the upstream.")
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the upstream's password from standard input."),
    ] = False,
    repo: Annotated[
        str | None,
        typer.Option(
            "--repo",
            help="The repository (slug) its packages link to and take permissions from;"
            " default: PREFIX, made private in project MIRRORS when missing.",
        ),
    ] = None,
    tag_ttl: Annotated[
        int | None,
        typer.Option("--tag-ttl", help="Seconds a cached tag is served before a check upstream."),
    ] = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Mirror URL/NAME as WORKSPACE/PREFIX/NAME (one-segment names get library/)."""
    workspace, prefix = _split(name)
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    if (username is None) != (password is None):
        typer.secho("error: give --username with --password-stdin, or neither", fg="red", err=True)
        raise typer.Exit(2)
    settings = load_settings(config, data_dir=data_dir)
    try:
        mirrors.check_prefix(prefix)
        url = mirrors.check_upstream(upstream, settings)
        if tag_ttl is not None and not 0 <= tag_ttl <= mirrors.MAX_TTL:
            raise Invalid(f"--tag-ttl must be 0 to {mirrors.MAX_TTL} seconds")
        asyncio.run(mirrors.check_reachable(settings, url))
    except ServiceError as exc:
        typer.secho(f"error: {exc.message}", fg="red", err=True)
        raise typer.Exit(1) from None

    async def use_case(ctx: Context, tx: Queries) -> str:
        workspace_id = await directory.find_workspace(tx, workspace)
        now = ctx.now()
        linked = await mirrors.mirror_repository(
            tx, workspace=workspace, slug=repo, prefix=prefix, now=now
        )
        made = await mirrors.create_mirror(
            tx,
            workspace_id=workspace_id,
            workspace=workspace,
            prefix=prefix,
            upstream=url,
            username=username,
            sealed_password=None if password is None else mirrors.seal_password(ctx, password),
            repository=linked,
            tag_ttl=settings.mirror_tag_ttl if tag_ttl is None else tag_ttl,
            created_by=None,
            now=now,
        )
        return f"{made.name} mirrors {outbound.redact(made.upstream)} (linked to {made.repository})"

    typer.echo(run(config, data_dir, use_case))


@app.command("list")
def mirror_list(
    workspace: Annotated[str, typer.Argument(metavar="WORKSPACE")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """The mirrors of a workspace."""

    async def use_case(ctx: Context, tx: Queries) -> list[mirrors.Mirror]:
        await directory.find_workspace(tx, workspace)
        return await mirrors.list_mirrors(tx, workspace=workspace)

    for mirror in run(config, data_dir, use_case):
        upstream = outbound.redact(mirror.upstream)
        if as_json:
            fields = {
                "name": mirror.name,
                "upstream": upstream,
                "username": mirror.username,
                "repository": mirror.repository,
                "tag_ttl": mirror.tag_ttl,
            }
            typer.echo(json.dumps(fields, sort_keys=True))
            continue
        user = f"  as {mirror.username}" if mirror.username else ""
        typer.echo(
            f"{mirror.name}  {upstream}{user}  linked to {mirror.repository}  ttl {mirror.tag_ttl}s"
        )


@app.command("delete")
def mirror_delete(
    name: Annotated[str, typer.Argument(metavar="WORKSPACE/PREFIX")],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Delete a mirror; what it cached stays as packages of its repository until deleted."""
    workspace, prefix = _split(name)

    async def use_case(ctx: Context, tx: Queries) -> None:
        found = await mirrors.get_mirror(tx, workspace=workspace, prefix=prefix)
        await mirrors.delete_mirror(tx, mirror=found.mirror, now=ctx.now())

    run(config, data_dir, use_case)
