"""`cargohold gc`: durations, the summary, a dry run, and refusing to run twice."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cargohold.cli.gc import parse_duration
from cargohold.cli.main import app
from cargohold.config import Settings
from cargohold.oci.digest import Digest
from cargohold.services.context import open_context
from cargohold.services.lifecycle import gc, leases
from cargohold.services.registry.quotas import format_bytes
from cargohold.storage.paths import blob_key

runner = CliRunner()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0), ("90", 90), ("90s", 90), ("30m", 1800), ("24h", 86400), ("7d", 604800),
     ("2w", 1209600), ("1h30m", 5400), (" 12H ", 43200)],
)  # fmt: skip
def test_durations_are_numbers_with_units(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1y", "-1h", "1.5h", "24 h", "1h30", "soon"])
def test_anything_else_is_refused_with_examples(text: str) -> None:
    with pytest.raises(typer.BadParameter, match=r"e\.g\. 24h"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (5 * 1024**3 // 2, "2.5 GiB")],
)
def test_sizes_are_shown_in_binary_units(size: int, text: str) -> None:
    assert format_bytes(size) == text


def _orphan(data_dir: Path, data: bytes) -> Path:
    """Bytes in the store that no row names (as a crash leaves them), an hour old."""
    settings = Settings(data_dir=data_dir)
    digest = Digest("sha256", hashlib.sha256(data).hexdigest())
    path = settings.blob_dir / blob_key(digest)
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    import os

    os.utime(path, (path.stat().st_mtime - 3600, path.stat().st_mtime - 3600))
    return path


def test_a_dry_run_reports_and_deletes_nothing(tmp_path: Path) -> None:
    runner.invoke(app, ["db", "upgrade", "--data-dir", str(tmp_path)])
    orphan = _orphan(tmp_path, b"x" * 2048)
    result = runner.invoke(
        app, ["gc", "--dry-run", "--grace", "30m", "--quiet", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "dry run" in result.stdout
    assert "would free" in result.stdout and "2.0 KiB" in result.stdout
    assert orphan.exists()


def test_gc_deletes_and_says_what_it_freed(tmp_path: Path) -> None:
    runner.invoke(app, ["db", "upgrade", "--data-dir", str(tmp_path)])
    orphan = _orphan(tmp_path, b"y" * 3072)
    result = runner.invoke(app, ["gc", "--grace", "0", "--quiet", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "freed" in result.stdout and "3.0 KiB" in result.stdout
    assert not orphan.exists()


def test_gc_refuses_while_another_node_collects(tmp_path: Path) -> None:
    ctx = open_context(Settings(data_dir=tmp_path))

    async def hold() -> None:
        await leases.acquire(ctx.db, gc.LEASE, "node-b:7", ttl=600, now=ctx.now())
        await ctx.db.close()

    asyncio.run(hold())
    result = runner.invoke(app, ["gc", "--quiet", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "already running (node-b:7)" in result.output


def test_a_bad_grace_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["gc", "--grace", "soon", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a duration" in result.output


def test_history_lists_the_last_collections(tmp_path: Path) -> None:
    runner.invoke(app, ["db", "upgrade", "--data-dir", str(tmp_path)])
    _orphan(tmp_path, b"z" * 4096)
    runner.invoke(app, ["gc", "--grace", "0", "--quiet", "--data-dir", str(tmp_path)])
    result = runner.invoke(app, ["gc", "--history", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Recent garbage collections" in result.stdout
    assert "done" in result.stdout and "4.0 KiB" in result.stdout
