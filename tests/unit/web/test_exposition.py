"""Serving the metrics of several worker processes: their directory is private and starts
empty, what a dead worker counted stays while its gauges go, and what the registry holds
is counted at most every so often, however often Prometheus scrapes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from cargohold.web import exposition


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    yield tmp_path


def test_the_workers_directory_is_private_to_the_servers_user(temp_dir: Path) -> None:
    path = exposition.private_directory("127.0.0.1", 5000)

    assert path.parent == temp_dir
    assert path.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_uid == os.getuid()


def test_what_a_crashed_server_left_in_its_directory_is_removed_at_start(temp_dir: Path) -> None:
    first = exposition.private_directory("127.0.0.1", 5000)
    (first / "counter_123.db").write_bytes(b"old counts")
    (first / "leftover").mkdir()

    again = exposition.private_directory("127.0.0.1", 5000)

    assert again == first
    assert list(again.iterdir()) == []


def test_servers_on_other_addresses_have_directories_of_their_own(temp_dir: Path) -> None:
    paths = {
        exposition.private_directory("127.0.0.1", 5000),
        exposition.private_directory("127.0.0.1", 5001),
        exposition.private_directory("::1", 5000),
    }
    assert len(paths) == 3


def test_a_directory_that_is_a_symbolic_link_is_refused(temp_dir: Path) -> None:
    target = temp_dir / "elsewhere"
    target.mkdir()
    name = f"cargohold-metrics-{os.getuid()}-127.0.0.1-5000"
    (temp_dir / name).symlink_to(target)

    with pytest.raises(RuntimeError, match="not a directory of this user"):
        exposition.private_directory("127.0.0.1", 5000)


WORKER = textwrap.dedent(
    """
    from cargohold import metrics
    metrics.observe_request("unit_worker", "GET", 200, 0.01, 0, 10)
    metrics.PROCESS.in_flight = 5
    metrics.flush()
    """
)


def test_a_dead_workers_counts_stay_and_its_gauges_go(tmp_path: Path) -> None:
    env = {**os.environ, exposition.MULTIPROC_ENV: str(tmp_path)}
    subprocess.run([sys.executable, "-c", WORKER], env=env, check=True, timeout=60)
    registry = CollectorRegistry()
    exposition.Workers(registry, str(tmp_path))

    labels = {"route": "unit_worker", "method": "GET", "status": "200"}
    assert registry.get_sample_value("cargohold_http_requests_total", labels) == 1
    assert registry.get_sample_value("cargohold_http_requests_in_flight") is None
    assert not list(tmp_path.glob("gauge_livesum_*.db"))


def test_metrics_addresses_split_into_host_and_port() -> None:
    assert exposition.split_address("127.0.0.1:9100") == ("127.0.0.1", 9100)
    assert exposition.split_address("[::1]:9100") == ("::1", 9100)
    assert exposition.split_address("0.0.0.0:9100") == ("0.0.0.0", 9100)


class Counting:
    """A database that answers the totals' queries and counts them."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    async def fetchone(self, sql: str, params: Any = None) -> dict[str, int]:
        self.queries.append(sql)
        return {"n": 3, "bytes": 300}


async def test_what_the_registry_holds_is_counted_at_most_every_interval() -> None:
    totals = exposition.Totals(upload_idle_expiry=3600)
    db = Counting()

    for _ in range(5):
        await totals.refresh(db)  # type: ignore[arg-type]
    families = {family.name: family.samples[0].value for family in totals.collect()}

    assert len(db.queries) == 3  # blobs, packages, open uploads: once
    assert families == {
        "cargohold_stored_blobs": 3,
        "cargohold_stored_blob_bytes": 300,
        "cargohold_packages": 3,
        "cargohold_upload_sessions_open": 3,
    }


async def test_a_failing_database_leaves_the_last_totals_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Down:
        async def fetchone(self, sql: str, params: Any = None) -> None:
            raise ConnectionError("database down")

    totals = exposition.Totals(upload_idle_expiry=3600)
    await totals.refresh(Down())  # type: ignore[arg-type]

    assert list(totals.collect()) == []
    assert "database down" in caplog.text
