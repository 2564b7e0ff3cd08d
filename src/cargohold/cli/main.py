"""The `cargohold` command."""

from __future__ import annotations

import typer

from cargohold.cli import accounts, audit, db, gc, serve, tokens
from cargohold.cli import mirrors as mirror_cli
from cargohold.cli import oidc as oidc_cli
from cargohold.cli import replication as replication_cli

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Cargohold container registry.")
app.command(name="serve")(serve.serve)
app.add_typer(db.app, name="db")
app.add_typer(accounts.users, name="user")
app.add_typer(accounts.workspaces, name="workspace")
app.add_typer(accounts.projects, name="project")
app.add_typer(accounts.repos, name="repo")
app.add_typer(accounts.package_commands, name="package")
app.add_typer(tokens.app, name="token")
app.add_typer(oidc_cli.app, name="oidc-policy")
app.add_typer(mirror_cli.app, name="mirror")
app.add_typer(replication_cli.app, name="replication")
app.command(name="gc")(gc.collect)
app.command(name="audit")(audit.show)
