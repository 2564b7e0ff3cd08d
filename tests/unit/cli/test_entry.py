"""The `cargohold` command reports configuration mistakes in a line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _cargohold(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cargohold", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_a_missing_config_file_is_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"

    result = _cargohold("serve", "--config", str(missing), "--data-dir", str(tmp_path))

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == f"cargohold: config file {missing} does not exist"


def test_an_invalid_setting_names_the_setting_and_its_variable(tmp_path: Path) -> None:
    result = _cargohold("serve", "--data-dir", str(tmp_path), env={"CARGOHOLD_WORKERS": "many"})

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "invalid setting workers (CARGOHOLD_WORKERS)" in result.stderr
