"""`cargohold mirror create|list|delete`, as docs/mirror.md writes them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cargohold.config import Settings
from cargohold.services.context import open_context
from tests.unit.cli.test_commands import cli, fails

UPSTREAM = "http://127.0.0.1:5999"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CARGOHOLD_MIRROR_ALLOWED_NETWORKS", "127.0.0.0/8")
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


def test_mirror_create_takes_the_password_from_standard_input(data_dir: Path) -> None:
    out = cli(data_dir, "mirror", "create", "acme/hub", "--upstream", UPSTREAM,
              "--username", "ci", "--password-stdin", stdin="s3cret-pw\n")  # fmt: skip
    assert "acme/hub mirrors http://127.0.0.1:5999" in out
    [row] = _rows(data_dir, "SELECT username, password FROM mirrors")
    assert row["username"] == "ci"
    assert str(row["password"]).startswith("v1.") and "s3cret-pw" not in str(row["password"])
    listed = cli(data_dir, "mirror", "list", "acme")
    assert "acme/hub" in listed and "as ci" in listed and "s3cret" not in listed


def test_mirror_delete_removes_it(data_dir: Path) -> None:
    cli(data_dir, "mirror", "create", "acme/hub", "--upstream", UPSTREAM)
    cli(data_dir, "mirror", "delete", "acme/hub")
    assert cli(data_dir, "mirror", "list", "acme") == ""
    actions = [row["action"] for row in _rows(data_dir, "SELECT action FROM events")]
    assert "mirror.created" in actions and "mirror.deleted" in actions


def test_mirror_create_refuses_a_plain_http_upstream_off_loopback(data_dir: Path) -> None:
    out = fails(data_dir, "mirror", "create", "acme/hub", "--upstream", "http://example.com")
    assert "loopback" in out
