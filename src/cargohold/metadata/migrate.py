"""Apply and check schema migrations (Alembic, driven from code)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

T = TypeVar("T")

CONNECT_TIMEOUT = 5.0

_SCRIPTS = Path(__file__).parent / "migrations"


def _config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def is_postgres(url: str) -> bool:
    return url.split("://", 1)[0].split("+")[0] in ("postgresql", "postgres")


def sqlalchemy_url(url: str) -> str:
    """PostgreSQL goes through SQLAlchemy's asyncpg dialect: one driver for both uses."""
    if is_postgres(url):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


def _run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, even inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _with_connection(url: str, work: Callable[[Connection], T]) -> T:
    """Call `work` with a connection inside a transaction that commits when it returns."""
    target = sqlalchemy_url(url)
    if not is_postgres(url):
        engine = create_engine(target, poolclass=NullPool)
        try:
            with engine.begin() as connection:
                return work(connection)
        finally:
            engine.dispose()

    async def run() -> T:
        engine = create_async_engine(
            target, poolclass=NullPool, connect_args={"timeout": CONNECT_TIMEOUT}
        )
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return _run_async(run())


def upgrade(url: str, target: str = "head") -> None:
    """Migrate to `target`: the newest revision, or an older one (upgrade tests start there)."""

    def run(connection: Connection) -> None:
        config = _config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, target)

    _with_connection(url, run)


def current_revision(url: str) -> str | None:
    def read(connection: Connection) -> str | None:
        revision: str | None = MigrationContext.configure(connection).get_current_revision()
        return revision

    return _with_connection(url, read)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config("sqlite://")).get_current_head()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"
