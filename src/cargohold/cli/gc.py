"""`cargohold gc`: collect garbage now, or see what a collection would free."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from cargohold.cli.common import act_as_operator
from cargohold.cli.options import ConfigOption, DataDirOption
from cargohold.config import Settings, load_settings
from cargohold.services.context import open_context
from cargohold.services.lifecycle import gc, gc_history
from cargohold.services.registry.quotas import format_bytes

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+)([smhdw]?)")


def parse_duration(text: str) -> int:
    """Seconds in `90s`, `30m`, `24h`, `7d`, `2w`, `1h30m` or a bare number of seconds."""
    cleaned = text.strip().lower()
    position, total = 0, 0
    for match in _DURATION.finditer(cleaned):
        if match.start() != position or (not match.group(2) and match.end() < len(cleaned)):
            break
        if not match.group(2) and position:  # a bare number is seconds only on its own
            position = -1
            break
        total += int(match.group(1)) * _UNITS[match.group(2) or "s"]
        position = match.end()
    if not cleaned or position != len(cleaned):
        raise typer.BadParameter(
            f"{text!r} is not a duration; write e.g. 24h, 30m, 7d or a number of seconds"
        )
    return total


class _Bar:
    """The collector's progress, as a Rich bar per phase."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None
        self.done = 0

    def start(self, phase: str, total: int | None) -> None:
        if self.task is not None:  # the phase before is over, however far it counted
            self.progress.update(self.task, total=self.done, completed=self.done)
        self.task, self.done = self.progress.add_task(phase, total=total), 0

    def advance(self, amount: int = 1) -> None:
        if self.task is not None:
            self.done += amount
            self.progress.advance(self.task, amount)


def summary(report: gc.GcReport) -> Table:
    verb = "would free" if report.dry_run else "freed"
    table = Table(title=f"Garbage collection {'(dry run) ' if report.dry_run else ''}summary")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("bytes", justify="right")
    table.add_row("tags removed by retention policies", str(report.retention_tags), "")
    table.add_row("images removed by retention policies", str(report.retention_manifests), "")
    table.add_row("manifests no tag reaches", str(report.manifests), "")
    table.add_row("links to blobs nothing names", str(report.links), "")
    table.add_row("blobs no package links", str(report.blobs), format_bytes(report.blob_bytes))
    table.add_row(
        "stored objects without a row", str(report.orphans), format_bytes(report.orphan_bytes)
    )
    table.add_row("abandoned uploads", str(report.uploads), "")
    table.add_row("audit log entries past their retention", str(report.events), "")
    table.add_row(f"total {verb}", "", format_bytes(report.freed_bytes))
    return table


async def _recent(settings: Settings) -> list[gc_history.GcRun]:
    ctx = open_context(settings)
    try:
        return await gc_history.recent(ctx.db)
    finally:
        await ctx.close()


def _history(runs: list[gc_history.GcRun]) -> Table:
    table = Table(title="Recent garbage collections")
    for column in ("started (UTC)", "took", "outcome", "freed", "blobs", "manifests", "by"):
        table.add_column(column)
    for run in runs:
        took = "" if run.finished_at is None else f"{run.finished_at - run.started_at:.1f} s"
        table.add_row(
            datetime.fromtimestamp(run.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S"),
            took,
            run.outcome if run.error is None else f"failed: {run.error}",
            format_bytes(int(run.report.get("freed_bytes", 0))),
            str(run.report.get("blobs", "")),
            str(run.report.get("manifests", "")),
            run.holder,
        )
    return table


def collect(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would go; delete nothing.")
    ] = False,
    grace: Annotated[
        str | None,
        typer.Option(
            "--grace",
            help="Keep what became garbage less than this long ago (default: the gc_grace"
            " setting, 24h).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    history: Annotated[
        bool, typer.Option("--history", help="Show the last collections instead; collect nothing.")
    ] = False,
) -> None:
    """Delete manifests no tag reaches, blobs no package links and abandoned uploads, while
    the registry keeps serving (one collector at a time across every node)."""
    settings = load_settings(config, data_dir=data_dir)
    if history:
        Console().print(_history(asyncio.run(_recent(settings))))
        return
    seconds = None if grace is None else parse_duration(grace)
    console = Console(stderr=True)

    async def main() -> gc.GcReport:
        act_as_operator()
        ctx = open_context(settings)
        try:
            with Progress(
                TextColumn("{task.description:>9}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                disable=quiet,
            ) as progress:
                return await gc.collect(
                    ctx, dry_run=dry_run, grace=seconds, progress=_Bar(progress)
                )
        finally:
            await ctx.close()

    try:
        report = asyncio.run(main())
    except gc.Busy as exc:
        typer.secho(
            f"error: {exc}; its lease ends by itself if that process is gone, try again later",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1) from None
    Console().print(summary(report))
    typer.echo(f"took {report.seconds:.1f} s")
