"""`cargohold user|workspace|project|repo|package` commands."""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from cargohold.authz.errors import RoleUnknown
from cargohold.authz.roles import Role
from cargohold.cli.common import run
from cargohold.cli.options import ConfigOption, DataDirOption
from cargohold.metadata.db import Queries
from cargohold.services.accounts import directory, sessions
from cargohold.services.context import Context
from cargohold.services.errors import Invalid
from cargohold.services.registry import packages, quotas

users = typer.Typer(no_args_is_help=True, help="People who log in.")
workspaces = typer.Typer(no_args_is_help=True, help="Workspaces (namespaces).")
projects = typer.Typer(no_args_is_help=True, help="Projects group repositories.")
repos = typer.Typer(no_args_is_help=True, help="Source repositories and their grants.")
package_commands = typer.Typer(no_args_is_help=True, help="Packages (container images).")


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if sys.stdin.isatty():
        return getpass.getpass("Password (empty for none): ") or None
    return None


@users.command("create")
def user_create(
    email: str,
    admin: Annotated[bool, typer.Option("--admin", help="Make a site admin.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a user."""
    password = _read_password(password_stdin)

    async def use_case(ctx: Context, tx: Queries) -> None:
        user = await directory.create_user(
            tx, email=email, display_name=name, password=password, is_admin=admin, now=ctx.now()
        )
        typer.echo(f"created user {user.email}" + (" (site admin)" if admin else ""), err=True)

    run(config, data_dir, use_case)


@users.command("password")
def user_password(
    email: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    remove: Annotated[
        bool, typer.Option("--remove", help="Remove the password: tokens only from now on.")
    ] = False,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Set a person's password (or remove it). Signs them out everywhere: every session
    in the web UI and every refresh token of theirs ends."""
    password = None if remove else _read_password(password_stdin)
    if not remove and not password:
        raise typer.BadParameter("give the new password with --password-stdin, or --remove")

    async def use_case(ctx: Context, tx: Queries) -> None:
        user = await directory.find_user(tx, email)
        ended = await directory.set_password(tx, user=user, password=password)
        done = "removed" if remove else "set"
        typer.echo(f"{done} the password of {user.email}; ended {ended} sessions", err=True)

    run(config, data_dir, use_case)


@users.command("sessions")
def user_sessions(email: str, config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """List a person's sessions in the web UI and refresh tokens (end one with
    `cargohold token revoke ID`, all with `cargohold user sign-out`)."""

    async def use_case(ctx: Context, tx: Queries) -> list[sessions.Session]:
        user = await directory.find_user(tx, email)
        return await sessions.list_sessions(tx, user_id=user.id, now=ctx.now())

    found = run(config, data_dir, use_case)
    typer.echo("id\tkind\tmade with\tcreated (UTC)\tlast used (UTC)\texpires (UTC)\tclient")
    for one in found:
        made_with = f"API token {one.token_name}" if one.token_name else "password"
        used = _utc(one.last_used_at) if one.last_used_at else "never"
        kind = "web UI" if one.kind == sessions.WEB else "refresh token"
        created, expires = _utc(one.created_at), _utc(one.expires_at)
        typer.echo(
            f"{one.id}\t{kind}\t{made_with}\t{created}\t{used}\t{expires}\t{one.client or ''}"
        )
    if not found:
        typer.echo(f"{email} has no sessions", err=True)


@users.command("sign-out")
def user_sign_out(email: str, config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """End every session in the web UI and every refresh token of a person, at once (their
    API tokens stay: revoke those with `cargohold token revoke`)."""

    async def use_case(ctx: Context, tx: Queries) -> None:
        user = await directory.find_user(tx, email)
        ended = await sessions.end_sessions(tx, user_id=user.id)
        typer.echo(f"ended {ended} sessions of {user.email}", err=True)

    run(config, data_dir, use_case)


def _utc(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M:%S")


@workspaces.command("create")
def workspace_create(
    slug: str,
    owner: Annotated[str, typer.Option("--owner", help="Email of the first owner.")],
    name: Annotated[str | None, typer.Option("--name")] = None,
    create_on_push: Annotated[
        bool,
        typer.Option(
            "--create-on-push",
            help="Create a package on first push when it is named like a repository.",
        ),
    ] = False,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a workspace with an owner."""

    async def use_case(ctx: Context, tx: Queries) -> None:
        user = await directory.find_user(tx, owner)
        workspace_id = await directory.create_workspace(
            tx, slug=slug, owner=user, name=name, now=ctx.now()
        )
        if create_on_push:
            await directory.set_create_on_push(tx, workspace_id=workspace_id, enabled=True)
        typer.echo(f"created workspace {slug}, owned by {user.email}", err=True)

    run(config, data_dir, use_case)


@workspaces.command("member")
def workspace_member(
    slug: str,
    email: str,
    owner: Annotated[bool, typer.Option("--owner/--member")] = False,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Add a member (or owner) to a workspace."""

    async def use_case(ctx: Context, tx: Queries) -> None:
        user = await directory.find_user(tx, email)
        workspace_id = await directory.find_workspace(tx, slug)
        await directory.set_member(tx, workspace_id=workspace_id, user=user, owner=owner)

    run(config, data_dir, use_case)


@workspaces.command("quota")
def workspace_quota(
    slug: str,
    size: Annotated[str, typer.Argument(metavar="SIZE|none", help="e.g. 10GiB, 500MB, none.")],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Set a workspace's storage quota (none removes it): pushes that would go over it are
    refused. kB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB of 1024."""
    try:
        quota_bytes = quotas.parse_size(size)
    except Invalid as exc:
        raise typer.BadParameter(exc.message, param_hint="SIZE") from None

    async def use_case(ctx: Context, tx: Queries) -> None:
        quota = await quotas.set_quota(tx, workspace=slug, quota_bytes=quota_bytes)
        used = quotas.format_bytes(quota.bytes)
        if quota.quota_bytes is None:
            typer.echo(f"workspace {slug} has no quota now; it uses {used}", err=True)
        else:
            typer.echo(
                f"workspace {slug} may hold {quotas.format_bytes(quota.quota_bytes)};"
                f" it uses {used} ({quota.percent}%)",
                err=True,
            )

    run(config, data_dir, use_case)


@projects.command("create")
def project_create(
    workspace: str,
    key: str,
    name: Annotated[str | None, typer.Option("--name")] = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a project in a workspace."""

    async def use_case(ctx: Context, tx: Queries) -> None:
        await directory.create_project(tx, workspace=workspace, key=key, name=name, now=ctx.now())
        typer.echo(f"created project {key} in {workspace}", err=True)

    run(config, data_dir, use_case)


@projects.command("grant")
def project_grant(
    workspace: str,
    key: str,
    email: str,
    role: str,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Give a user a role on every repository of a project (none removes it)."""

    async def use_case(ctx: Context, tx: Queries) -> None:
        user = await directory.find_user(tx, email)
        workspace_id = await directory.find_workspace(tx, workspace)
        project_id = await directory.find_project(tx, workspace_id=workspace_id, key=key)
        await directory.grant_project(tx, project_id=project_id, user=user, role=_role(role))

    run(config, data_dir, use_case)


def _role(text: str) -> Role:
    try:
        return Role.parse(text)
    except RoleUnknown as exc:
        raise Invalid(str(exc)) from None


@repos.command("create")
def repo_create(
    full_name: Annotated[str, typer.Argument(metavar="WORKSPACE/REPO")],
    project: Annotated[str, typer.Option("--project", help="Project key.")],
    public: Annotated[bool, typer.Option("--public/--private")] = False,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a source repository in a project."""

    async def use_case(ctx: Context, tx: Queries) -> None:
        repository = await directory.create_repository(
            tx, full_name=full_name, project_key=project, public=public, now=ctx.now()
        )
        typer.echo(f"created repository {repository.full_name}", err=True)

    run(config, data_dir, use_case)


@repos.command("grant")
def repo_grant(
    full_name: Annotated[str, typer.Argument(metavar="WORKSPACE/REPO")],
    email: str,
    role: Annotated[str, typer.Argument(metavar="admin|write|read|none")],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Give a user a role on a repository and its packages (none removes it)."""

    async def use_case(ctx: Context, tx: Queries) -> None:
        repository = await directory.find_repository(tx, full_name)
        user = await directory.find_user(tx, email)
        await directory.grant_repository(tx, repository=repository, user=user, role=_role(role))
        typer.echo(f"{user.email} has {role} on {repository.full_name}", err=True)

    run(config, data_dir, use_case)


@repos.command("visibility")
def repo_visibility(
    full_name: Annotated[str, typer.Argument(metavar="WORKSPACE/REPO")],
    visibility: Annotated[str, typer.Argument(metavar="public|private")],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Make a repository (and so its packages) public or private."""
    if visibility not in ("public", "private"):
        raise typer.BadParameter("say public or private")

    async def use_case(ctx: Context, tx: Queries) -> None:
        repository = await directory.find_repository(tx, full_name)
        await directory.set_repository_visibility(
            tx, repository=repository, public=visibility == "public"
        )

    run(config, data_dir, use_case)


@package_commands.command("create")
def package_create(
    name: Annotated[str, typer.Argument(metavar="WORKSPACE/NAME")],
    repo: Annotated[str, typer.Option("--repo", help="Repository slug (or WORKSPACE/REPO).")],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a package linked to a repository; it inherits the repository's roles."""

    async def use_case(ctx: Context, tx: Queries) -> None:
        full_repo = repo if "/" in repo else f"{name.split('/', 1)[0]}/{repo}"
        repository = await directory.find_repository(tx, full_repo)
        await packages.create_package(tx, name=name, repository=repository, now=ctx.now())
        typer.echo(f"created package {name}, linked to {repository.full_name}", err=True)

    run(config, data_dir, use_case)


@package_commands.command("delete")
def package_delete(
    name: Annotated[str, typer.Argument(metavar="WORKSPACE/NAME")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Delete a package with its tags and images; its layers go with the next garbage
    collection (`cargohold gc`), unless other packages use them."""
    if not yes:
        typer.confirm(f"delete package {name} with every tag and image?", abort=True)

    async def use_case(ctx: Context, tx: Queries) -> None:
        await packages.delete_package(tx, name)
        typer.echo(f"deleted package {name}; its layers go with the next garbage collection")

    run(config, data_dir, use_case)
