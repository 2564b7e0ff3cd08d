"""`cargohold serve`: run the registry under Granian."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import socket
import sys
from typing import Annotated

import typer

from cargohold.cli.first_start import first_start_hint_here
from cargohold.cli.options import ConfigOption, DataDirOption
from cargohold.config import Settings, load_settings
from cargohold.metadata import migrate
from cargohold.metadata.db import private_sqlite_file
from cargohold.services.accounts.directory import count_users
from cargohold.services.context import open_context
from cargohold.storage.filesystem import make_dirs
from cargohold.web import exposition

_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback
                for info in socket.getaddrinfo(host, None)
            )
        except OSError:
            return False


def check_bind(settings: Settings) -> None:
    """auth=none is for a developer's own machine: refuse to expose it unless forced."""
    if settings.auth != "none":
        return
    if not is_loopback(settings.host) and not settings.allow_insecure_bind:
        raise typer.BadParameter(
            f"auth = none lets anyone push and delete; it only listens on loopback, not on"
            f" {settings.host}. Use --host 127.0.0.1, or --allow-insecure-bind to force it.",
            param_hint="--host",
        )
    typer.secho(
        "WARNING: auth = none: anyone who can reach this server may push, pull and delete."
        " Development only.",
        fg=typer.colors.RED,
        bold=True,
        err=True,
    )


def check_port_free(host: str, port: int, hint: str = "--port") -> None:
    """Refuse a port another server holds; the server itself binds with SO_REUSEPORT,
    which would otherwise let two registries silently share one port. Connections of a
    server that just stopped or crashed (TIME_WAIT, FIN_WAIT) do not count: the probe binds
    with SO_REUSEADDR, as the server does, so a supervisor may restart it at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot listen on {host}:{port}: {exc.strerror}. Is another server running?",
                param_hint=hint,
            ) from None


def _first_start_hint(settings: Settings) -> None:
    """With no accounts yet, say how to make the first admin and push."""

    async def users() -> int:
        ctx = open_context(settings)
        try:
            return await count_users(ctx.db)
        finally:
            await ctx.db.close()

    if asyncio.run(users()):
        return
    typer.secho(
        first_start_hint_here(settings),
        fg=typer.colors.YELLOW,
        err=True,
    )


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(1)


def check_schema(settings: Settings) -> None:
    """PostgreSQL is migrated by hand (`cargohold db upgrade`, once per release); a node
    refuses to serve a schema it was not written for."""
    from cargohold.metadata import revision
    from cargohold.metadata.postgres import PostgresDatabase, redact
    from cargohold.oci.errors import Unavailable

    assert settings.database_url is not None
    url = settings.database_url

    async def current() -> str | None:
        db = PostgresDatabase(url, connect_timeout=settings.database_connect_timeout)
        try:
            return await db.schema_revision()
        finally:
            await db.close()

    try:
        found = asyncio.run(current())
    except Unavailable as exc:
        raise _fail(f"cannot reach the database at {redact(url)}: {exc.message}") from None
    if found != revision.HEAD and not revision.behind(found):
        typer.secho(
            f"WARNING: the database is at revision {found}, newer than this version's"
            f" {revision.HEAD}; upgrade this node soon.",
            fg=typer.colors.YELLOW,
            err=True,
        )
    elif found != revision.HEAD:
        state = f"is at revision {found}" if found else "has no schema yet"
        raise _fail(
            f"the database at {redact(url)} {state}; this version of cargohold needs revision"
            f" {revision.HEAD}. Run `cargohold db upgrade` with the same settings (once, from"
            " any one machine), then start the nodes."
        )
    if settings.auth == "token" and settings.signing_key_file is None:
        typer.secho(
            "WARNING: every node must sign registry tokens with the same key: set"
            " signing_key_file to one key file shared by all nodes.",
            fg=typer.colors.YELLOW,
            err=True,
        )


def check_store(settings: Settings) -> None:
    """Say at once when the bucket is missing or refuses us; a store that is merely down
    does not stop the node (it answers 503 and /readyz says why until the store is back)."""
    from cargohold.oci.errors import Unavailable
    from cargohold.services.context import open_storage
    from cargohold.storage.s3 import S3Backend

    store = open_storage(settings)
    assert isinstance(store, S3Backend)

    async def check() -> None:
        try:
            await store.check()
        finally:
            await store.close()

    try:
        asyncio.run(check())
    except Unavailable as exc:
        typer.secho(f"WARNING: {exc.message}", fg=typer.colors.YELLOW, err=True)


def check_metrics(settings: Settings) -> None:
    """The metrics server's address is free, and not the registry's own."""
    if not settings.metrics_address:
        return
    host, port = exposition.split_address(settings.metrics_address)
    if (host, port) == (settings.host, settings.port):
        raise typer.BadParameter(
            "metrics_address must differ from the registry's host and port (or set"
            " metrics_token to serve /metrics on the registry's listener instead)",
            param_hint="metrics_address",
        )
    check_port_free(host, port, hint="metrics_address")


def _prepare_metrics(settings: Settings) -> None:
    """With metrics on, the worker processes keep their values in a private directory
    that the metrics server reads (web/exposition.py); made empty here."""
    os.environ.pop(exposition.MULTIPROC_ENV, None)
    if settings.metrics_enabled:
        path = exposition.private_directory(settings.host, settings.port)
        os.environ[exposition.MULTIPROC_ENV] = str(path)


def _export(settings: Settings) -> None:
    """Hand the resolved settings to the worker processes through the environment."""
    for field, value in settings.model_dump(exclude_none=True).items():
        os.environ[f"CARGOHOLD_{field.upper()}"] = str(value)


def serve(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    auth: Annotated[
        str | None,
        typer.Option(help="token (accounts and API tokens) or none (loopback development mode)."),
    ] = None,
    access_log: Annotated[
        bool | None, typer.Option("--access-log", help="Log every request.")
    ] = None,
    allow_insecure_bind: Annotated[
        bool | None,
        typer.Option("--allow-insecure-bind", help="Let auth=none listen beyond loopback."),
    ] = None,
) -> None:
    """Run the registry."""
    # A stop asked for before the server runs is kept for it (see _serve_or_stop).
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    settings = load_settings(
        config,
        data_dir=data_dir,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        auth=auth,
        allow_insecure_bind=allow_insecure_bind,
    )
    check_bind(settings)
    check_port_free(settings.host, settings.port)
    check_metrics(settings)
    make_dirs(settings.data_dir)
    if settings.is_postgres:
        check_schema(settings)
    else:
        private_sqlite_file(settings.sqlite_path)
        migrate.upgrade(migrate.sqlite_url(settings.sqlite_path))
    if settings.storage == "s3":
        check_store(settings)
    if settings.auth == "token":
        _first_start_hint(settings)
    _export(settings)
    _prepare_metrics(settings)
    scheme = "https" if settings.tls_cert else "http"
    typer.echo(
        f"cargohold listening on {scheme}://{settings.host}:{settings.port}"
        f" (data in {settings.data_dir.resolve()}, {settings.workers} worker(s))",
        err=True,
    )
    _serve_or_stop()


def _serve_or_stop() -> None:
    """Become the server: a fresh, lean process (same pid), since this one holds the CLI and
    migration code. SIGTERM and SIGINT are blocked since `serve` began; one that came
    meanwhile ends it here (a clean stop, status 0); one that comes from now on stays
    pending across the exec until the server handles it (web/server.py)."""
    sys.stdout.flush()
    sys.stderr.flush()
    if _STOP_SIGNALS & signal.sigpending():
        typer.echo("stopped before serving", err=True)
        raise typer.Exit(0)
    os.execv(sys.executable, [sys.executable, "-m", "cargohold.web.server"])
