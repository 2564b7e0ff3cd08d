"""`cargohold replication create|list|delete`, as docs/replication.md writes them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from cargohold.config import Settings
from cargohold.services.context import open_context
from tests.unit.cli.test_commands import cli, fails

REMOTE = "http://127.0.0.1:5998"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CARGOHOLD_REPLICATION_ALLOWED_NETWORKS", "127.0.0.0/8")
    data = tmp_path / "data"
    cli(data, "user", "create", "alice@example.com")
    cli(data, "workspace", "create", "acme", "--owner", "alice@example.com")
    return data


def _rows(data_dir: Path, sql: str) -> list[dict[str, object]]:
    async def read() -> list[dict[str, object]]:
        ctx = open_context(Settings(data_dir=data_dir))
        try:
            return [dict(row) for row in await ctx.db.fetchall(sql)]
        finally:
            await ctx.db.close()

    return asyncio.run(read())


def test_replication_create_seals_the_password_from_standard_input(data_dir: Path) -> None:
    out = cli(data_dir, "replication", "create", "acme/web/api", "--url", REMOTE,
              "--prefix", "mirror", "--username", "ci", "--password-stdin",
              stdin="s3cret-pw\n")  # fmt: skip
    assert "acme/web/api to http://127.0.0.1:5998/mirror" in out
    [row] = _rows(data_dir, "SELECT package, username, password, prefix FROM replications")
    assert (row["package"], row["username"], row["prefix"]) == ("acme/web/api", "ci", "mirror")
    assert str(row["password"]).startswith("v1.") and "s3cret-pw" not in str(row["password"])
    listed = cli(data_dir, "replication", "list", "acme")
    assert "acme/web/api" in listed and "s3cret" not in listed
    [line] = cli(data_dir, "replication", "list", "acme", "--json").splitlines()
    fields = json.loads(line)
    assert fields["jobs"] == {"pending": 0, "done": 0, "failed": 0}
    assert "password" not in fields


def test_replication_delete_removes_the_rule(data_dir: Path) -> None:
    cli(data_dir, "replication", "create", "acme", "--url", REMOTE)
    [row] = _rows(data_dir, "SELECT id, package FROM replications")
    assert row["package"] == ""
    cli(data_dir, "replication", "delete", "acme", str(row["id"]))
    assert _rows(data_dir, "SELECT id FROM replications") == []


def test_replication_create_refuses_plain_http_beyond_loopback(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARGOHOLD_REPLICATION_ALLOWED_NETWORKS", "127.0.0.0/8,10.0.0.0/8")
    message = fails(data_dir, "replication", "create", "acme", "--url", "http://10.1.2.3")
    assert "loopback" in message
    assert _rows(data_dir, "SELECT id FROM replications") == []
