"""`cargohold db`: schema migrations."""

from __future__ import annotations

import typer
from sqlalchemy.exc import InterfaceError, OperationalError

from cargohold.cli.options import ConfigOption, DataDirOption
from cargohold.config import Settings, load_settings
from cargohold.metadata import migrate
from cargohold.metadata.db import private_sqlite_file

app = typer.Typer(no_args_is_help=True, help="Database schema.")


def database_url(settings: Settings) -> str:
    """The URL migrations run against: PostgreSQL's, or the SQLite file's (its dir made)."""
    if settings.is_postgres:
        assert settings.database_url is not None
        return settings.database_url
    private_sqlite_file(settings.sqlite_path)
    return migrate.sqlite_url(settings.sqlite_path)


def _unreachable(url: str, exc: Exception) -> typer.Exit:
    from cargohold.metadata.postgres import redact

    typer.secho(f"cannot reach the database at {redact(url)}: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)


@app.command()
def upgrade(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Apply every pending migration (run it once per release, before starting the nodes)."""
    settings = load_settings(config, data_dir=data_dir)
    url = database_url(settings)
    try:
        migrate.upgrade(url)
        typer.echo(f"database at revision {migrate.current_revision(url)}")
    except (OSError, TimeoutError, OperationalError, InterfaceError) as exc:
        raise _unreachable(url, exc) from None


@app.command()
def current(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Show the schema revision of the database and the newest one this version knows."""
    settings = load_settings(config, data_dir=data_dir)
    url = database_url(settings)
    try:
        revision = migrate.current_revision(url)
    except (OSError, TimeoutError, OperationalError, InterfaceError) as exc:
        raise _unreachable(url, exc) from None
    typer.echo(f"database: {revision}  newest: {migrate.head_revision()}")
