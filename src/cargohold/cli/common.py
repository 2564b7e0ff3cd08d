"""Running a use case from the command line: open the context, one transaction, report errors."""

from __future__ import annotations

import asyncio
import getpass
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import typer

from cargohold.config import load_settings
from cargohold.metadata.db import Queries
from cargohold.services.context import Context, open_context
from cargohold.services.errors import ServiceError
from cargohold.services.events import actors

T = TypeVar("T")


def act_as_operator() -> None:
    """What this command changes is recorded as done by `cli:` and the OS user running it
    (actor kind `system`), in the context of the running coroutine."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        who = f"uid {os.getuid()}"
    actors.act_as(actors.Actor(actors.SYSTEM, name=f"cli:{who}"))


def run(
    config: Path | None,
    data_dir: Path | None,
    use_case: Callable[[Context, Queries], Awaitable[T]],
) -> T:
    """Run `use_case(ctx, tx)` inside one transaction; domain errors exit 1 with the message."""
    settings = load_settings(config, data_dir=data_dir)

    async def main() -> T:
        act_as_operator()
        ctx = open_context(settings)
        try:
            async with ctx.db.transaction() as tx:
                return await use_case(ctx, tx)
        finally:
            await ctx.db.close()

    try:
        return asyncio.run(main())
    except ServiceError as exc:
        typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
