"""`cargohold audit`: the log, newest first, as lines or JSON; and what the CLI changes is
recorded as done by `cli:` and the OS user running it."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

from typer.testing import CliRunner

from cargohold.cli.main import app

runner = CliRunner()


def cli(data_dir: Path, *args: str) -> str:
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return result.stdout


def entries(data_dir: Path, *args: str) -> list[dict[str, object]]:
    out = cli(data_dir, "audit", "--json", *args)
    return [json.loads(line) for line in out.splitlines()]


def test_what_the_cli_changes_is_recorded_as_the_operator(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cli(data, "user", "create", "alice@example.com")
    cli(data, "workspace", "create", "acme", "--owner", "alice@example.com")
    cli(data, "project", "create", "acme", "PLAT")
    cli(data, "repo", "create", "acme/web", "--project", "PLAT")
    cli(data, "repo", "visibility", "acme/web", "public")
    cli(data, "repo", "grant", "acme/web", "alice@example.com", "write")
    cli(data, "package", "create", "acme/web", "--repo", "web")
    cli(data, "workspace", "quota", "acme", "10GiB")
    cli(data, "token", "create", "alice@example.com", "--name", "ci", "--scope", "read:package")
    cli(data, "package", "delete", "acme/web", "--yes")
    found = entries(data)
    assert [e["action"] for e in reversed(found)] == [
        "user.created",
        "workspace.created",
        "member.added",
        "project.created",
        "repository.created",
        "repository.visibility_changed",
        "grant.changed",
        "package.created",
        "settings.changed",
        "token.created",
        "package.deleted",
    ]
    operator = {"kind": "system", "id": None, "name": f"cli:{getpass.getuser()}"}
    assert all(e["actor"] == operator for e in found)


def test_the_log_is_shown_newest_first_and_filtered(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cli(data, "user", "create", "alice@example.com")
    cli(data, "workspace", "create", "acme", "--owner", "alice@example.com")
    cli(data, "workspace", "create", "globex", "--owner", "alice@example.com")
    lines = cli(data, "audit").splitlines()
    assert "member.added" in lines[0] and "globex" in lines[0]
    assert lines[-1].split("\t")[2] == "user.created"
    acme = entries(data, "--workspace", "acme")
    assert {e["workspace"] for e in acme} == {"acme"} and len(acme) == 2
    assert [e["action"] for e in entries(data, "--action", "workspace")] == [
        "workspace.created",
        "workspace.created",
    ]
    assert entries(data, "--since", "2999-01-01") == []
    assert len(entries(data, "--since", "1h", "--limit", "2")) == 2
    first = entries(data, "--limit", "1")[0]
    assert set(first) >= {"id", "time", "action", "actor", "target", "outcome", "data"}
    assert str(first["time"]).endswith("Z")


def test_a_bound_that_is_no_time_is_an_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cli(data, "user", "create", "alice@example.com")
    result = runner.invoke(app, ["audit", "--since", "soon", "--data-dir", str(data)])
    assert result.exit_code == 1 and "soon" in result.output
