"""`cargohold workspace quota SLUG SIZE|none`, as docs/usage.md writes it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cargohold.cli.main import app
from cargohold.config import Settings
from cargohold.services.context import open_context

runner = CliRunner()


def cli(data_dir: Path, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
    assert result.exit_code == code, result.output
    return result.output


def quota_of(data_dir: Path, slug: str) -> int | None:
    async def read() -> int | None:
        ctx = open_context(Settings(data_dir=data_dir))
        try:
            row = await ctx.db.fetchone(
                "SELECT quota_bytes FROM workspaces WHERE slug = :s", {"s": slug}
            )
            assert row is not None
            return row["quota_bytes"]
        finally:
            await ctx.db.close()

    return asyncio.run(read())


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    cli(data, "user", "create", "alice@example.com")
    cli(data, "workspace", "create", "acme", "--owner", "alice@example.com")
    return data


def test_quota_takes_a_size_with_a_unit(data_dir: Path) -> None:
    out = cli(data_dir, "workspace", "quota", "acme", "10GiB")
    assert quota_of(data_dir, "acme") == 10 * 1024**3
    assert "workspace acme may hold 10.0 GiB; it uses 0 B (0.0%)" in out


def test_quota_none_removes_it(data_dir: Path) -> None:
    cli(data_dir, "workspace", "quota", "acme", "500MB")
    out = cli(data_dir, "workspace", "quota", "acme", "none")
    assert quota_of(data_dir, "acme") is None
    assert "workspace acme has no quota now" in out


def test_quota_refuses_a_size_it_cannot_read(data_dir: Path) -> None:
    out = cli(data_dir, "workspace", "quota", "acme", "10 gigs", code=2)
    assert "not a size" in out
    assert quota_of(data_dir, "acme") is None


def test_quota_of_an_unknown_workspace_is_an_error(data_dir: Path) -> None:
    assert "no workspace 'nope'" in cli(data_dir, "workspace", "quota", "nope", "1GiB", code=1)
