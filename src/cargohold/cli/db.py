"""`cargohold db`: schema migrations."""

from __future__ import annotations

import typer

from cargohold.cli.options import ConfigOption, DataDirOption
from cargohold.config import load_settings
from cargohold.metadata import migrate

app = typer.Typer(no_args_is_help=True, help="Database schema.")


@app.command()
def upgrade(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Apply every pending migration."""
    settings = load_settings(config, data_dir=data_dir)
    settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    url = migrate.sqlite_url(settings.sqlite_path)
    migrate.upgrade(url)
    typer.echo(f"database at revision {migrate.current_revision(url)}")


@app.command()
def current(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Show the schema revision of the database and the newest one this version knows."""
    settings = load_settings(config, data_dir=data_dir)
    url = migrate.sqlite_url(settings.sqlite_path)
    typer.echo(f"database: {migrate.current_revision(url)}  newest: {migrate.head_revision()}")
