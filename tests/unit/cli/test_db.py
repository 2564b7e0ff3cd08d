"""`cargohold db upgrade`: the embedded database it makes is private to the server's user."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from typer.testing import CliRunner

from cargohold.cli.main import app

runner = CliRunner()


def test_db_upgrade_makes_the_database_and_its_folder_private_whatever_the_umask(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    old = os.umask(0o022)
    try:
        result = runner.invoke(app, ["db", "upgrade", "--data-dir", str(data_dir)])
    finally:
        os.umask(old)

    assert result.exit_code == 0, result.output
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert files, "db upgrade made no database file"
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in [p for p in data_dir.rglob("*") if p.is_dir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
