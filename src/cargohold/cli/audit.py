"""`cargohold audit`: read the audit log (every workspace's, or one), newest first."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from cargohold.cli.common import run
from cargohold.cli.options import ConfigOption, DataDirOption
from cargohold.metadata.db import Queries
from cargohold.services.context import Context
from cargohold.services.events import audit
from cargohold.services.events.audit import Event, Filters

_PAGE = 500


def _utc(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_json(event: Event) -> dict[str, Any]:
    """An entry as the management API answers it."""
    return {
        "id": event.id,
        "time": _utc(event.at),
        "action": event.action,
        "outcome": event.outcome,
        "actor": {"kind": event.actor_kind, "id": event.actor_id, "name": event.actor_name},
        "client_address": event.client_address,
        "request_id": event.request_id,
        "target": event.target,
        "workspace": event.workspace,
        "package": event.package,
        "repository": event.repository,
        "tag": event.tag,
        "digest": event.digest,
        "data": event.data,
    }


def _line(event: Event) -> str:
    actor = event.actor_name or event.actor_id or event.actor_kind
    if event.actor_kind == "token":
        actor += " (access token)"
    outcome = "" if event.outcome == "ok" else f" [{event.outcome}]"
    fields = [
        _utc(event.at),
        actor,
        event.action + outcome,
        event.target or "",
        event.client_address or "-",
    ]
    return "\t".join(fields)


def show(
    workspace: Annotated[
        str | None, typer.Option("--workspace", help="One workspace's log (default: all).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="From a date (2026-03-01), a time or an age (24h, 7d)."),
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before this (same forms).")] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="An email, a token's name or an actor id.")
    ] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="An action (tag.deleted) or a family (tag).")
    ] = None,
    package: Annotated[str | None, typer.Option("--package", help="WORKSPACE/NAME")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many entries.")] = 100,
    as_lines: Annotated[
        bool, typer.Option("--json", help="One JSON object per line, as the API has them.")
    ] = False,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Show the audit log, newest first: who changed what, when, from where. Entries are
    never changed; garbage collection deletes those older than audit_retention_days."""

    async def use_case(ctx: Context, tx: Queries) -> list[Event]:
        now = ctx.now()
        filters = Filters(
            actor=actor,
            action=action,
            package=package,
            since=None if since is None else audit.parse_time(since, now=now),
            until=None if until is None else audit.parse_time(until, now=now),
        )
        found: list[Event] = []
        after = None
        while len(found) < limit:
            page, after = await audit.list_events(
                tx,
                workspace=workspace,
                filters=filters,
                limit=min(_PAGE, limit - len(found)),
                after=after,
            )
            found += page
            if after is None:
                break
        return found

    events = run(config, data_dir, use_case)
    for event in events:
        typer.echo(json.dumps(as_json(event), ensure_ascii=False) if as_lines else _line(event))
    if not events and not as_lines:
        typer.echo("no entries", err=True)
