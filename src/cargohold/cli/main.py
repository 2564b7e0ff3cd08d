"""The `cargohold` command."""

from __future__ import annotations

import typer

from cargohold.cli import db, serve

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Cargohold container registry.")
app.command(name="serve")(serve.serve)
app.add_typer(db.app, name="db")
