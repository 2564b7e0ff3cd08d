"""`cargohold serve` with metrics: their own free address, and a private directory for the
workers' values only when something serves them."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import typer

from cargohold.cli.serve import _prepare_metrics, check_metrics
from cargohold.config import Settings
from cargohold.web.exposition import MULTIPROC_ENV


def test_a_metrics_address_another_server_holds_is_refused() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(typer.BadParameter, match="Is another server running"):
            check_metrics(Settings(metrics_address=f"127.0.0.1:{port}"))


def test_the_metrics_address_cannot_be_the_registrys_own() -> None:
    with pytest.raises(typer.BadParameter, match="must differ from the registry's"):
        check_metrics(Settings(host="127.0.0.1", port=5000, metrics_address="127.0.0.1:5000"))


def test_without_metrics_the_workers_get_no_metrics_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, "/somewhere/else")

    _prepare_metrics(Settings())

    assert MULTIPROC_ENV not in os.environ


def test_with_metrics_the_workers_share_a_private_empty_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.setenv(MULTIPROC_ENV, "")  # put back as it was after the test

    _prepare_metrics(Settings(port=5123, metrics_address="127.0.0.1:5124"))

    path = Path(os.environ[MULTIPROC_ENV])
    assert path.parent == tmp_path and path.is_dir() and not any(path.iterdir())
    assert path.stat().st_mode & 0o777 == 0o700
