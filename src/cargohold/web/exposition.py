"""Serving the metrics in the Prometheus text format: by the metrics server in `cargohold
serve`'s main process (`metrics_address`), and by `/metrics` on the registry's own
listener (`metrics_token`, see web/observe.py).

The workers' values come from PROMETHEUS_MULTIPROC_DIR, the private directory `serve`
made (`private_directory`), through prometheus_client's MultiProcessCollector: a counter
keeps what a worker that died had counted, a gauge of a worker that died goes with it.
The main process survives its workers, so its server does too. Beside them: the build
(`cargohold_build_info`) and what the registry holds (`Totals`), from the database,
counted at most every `STORED_EVERY` (blobs, bytes, packages) or `UPLOADS_EVERY` (open
upload sessions) seconds, however often Prometheus scrapes.

No web framework here: the main process imports this, and its memory is paid on every
node. The database code is imported only when a scrape first needs it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import re
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from cargohold.metadata.db import Queries

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
STORED_EVERY = 60.0
UPLOADS_EVERY = 5.0
QUERY_TIMEOUT = 10.0
_LIVE_FILE = re.compile(r"gauge_live\w*?_(\d+)\.db")

log = logging.getLogger("cargohold.metrics")


# --------------------------------------------------------------------------- the directory


def private_directory(host: str, port: int) -> Path:
    """The workers' metrics directory of the server on `host:port`, made empty: one per
    listening address (two servers never share one), 0700, owned by this user; files
    a server that crashed left behind are removed (its counts are from another run)."""
    safe = re.sub(r"[^A-Za-z0-9.-]", "_", host)
    path = Path(tempfile.gettempdir()) / f"cargohold-metrics-{os.getuid()}-{safe}-{port}"
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        found = path.lstat()
        if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
            raise RuntimeError(f"{path} exists and is not a directory of this user") from None
        path.chmod(0o700)
        for entry in path.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    return path


def _alive(pid: int) -> bool:
    """The process runs (a zombie, dead but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return state not in ("Z", "X")


class Workers(MultiProcessCollector):
    """The workers' values; the gauges of workers that are gone are dropped first."""

    def __init__(self, registry: CollectorRegistry, path: str) -> None:
        self.directory = path
        super().__init__(registry, path)  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        try:
            names = os.listdir(self.directory)
        except OSError:
            names = []
        for name in names:
            match = _LIVE_FILE.fullmatch(name)
            if match and not _alive(int(match.group(1))):
                mark_process_dead(int(match.group(1)), self.directory)  # type: ignore[no-untyped-call]
        found: Iterable[Metric] = super().collect()  # type: ignore[no-untyped-call]
        return found


class _ThisProcess(Collector):
    """Without a multiprocess directory (one process: tests, a server started in-process):
    prometheus_client's own registry, with this process's metrics."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


# --------------------------------------------------------------------------- build, totals


class BuildInfo(Collector):
    def __init__(self, version: str, storage: str, database: str) -> None:
        self.labels = {
            "version": version,
            "storage": storage,
            "database": database,
            "python": platform.python_version(),
        }

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "cargohold_build_info",
            "The running version and the kinds of its store and database (always 1).",
            labels=list(self.labels),
        )
        info.add_metric(list(self.labels.values()), 1)
        yield info


def build_info(storage: str, database_url: str | None) -> BuildInfo:
    from cargohold import __version__

    postgres = bool(database_url) and not str(database_url).startswith("sqlite:")
    return BuildInfo(__version__, storage, "postgresql" if postgres else "sqlite")


class Totals(Collector):
    """What the registry holds, from cached queries (see the module's docstring)."""

    def __init__(self, upload_idle_expiry: float) -> None:
        self.idle_expiry = upload_idle_expiry
        self.stored: Any = None  # services.totals.Stored
        self.stored_at = -STORED_EVERY
        self.uploads: int | None = None
        self.uploads_at = -UPLOADS_EVERY

    async def refresh(self, db: Queries) -> None:
        """Run the queries whose answers are older than their interval. A database that
        fails is logged; the last answers stay."""
        from cargohold.services import totals

        clock = time.monotonic()
        try:
            if clock - self.stored_at >= STORED_EVERY:
                self.stored_at = clock
                self.stored = await asyncio.wait_for(totals.stored(db), QUERY_TIMEOUT)
            if clock - self.uploads_at >= UPLOADS_EVERY:
                self.uploads_at = clock
                self.uploads = await asyncio.wait_for(
                    totals.open_uploads(db, now=time.time(), idle_expiry=self.idle_expiry),
                    QUERY_TIMEOUT,
                )
        except Exception as exc:
            log.warning("the metrics could not count what the registry holds: %s", exc)

    def collect(self) -> Iterator[Metric]:
        stored = self.stored
        if stored is not None:
            yield GaugeMetricFamily(
                "cargohold_stored_blobs", "Blobs stored (each digest once).", value=stored.blobs
            )
            yield GaugeMetricFamily(
                "cargohold_stored_blob_bytes", "Bytes of the blobs stored.", value=stored.blob_bytes
            )
            yield GaugeMetricFamily(
                "cargohold_packages", "Packages (images) created.", value=stored.packages
            )
        if self.uploads is not None:
            yield GaugeMetricFamily(
                "cargohold_upload_sessions_open",
                "Upload sessions in use (not idle past upload_idle_expiry).",
                value=self.uploads,
            )


class BlockingTotals(Totals):
    """`Totals` for the metrics server's threads: each scrape refreshes what is stale on
    a private event loop, one at a time, on a database opened at the first scrape."""

    def __init__(self, upload_idle_expiry: float, open_database: Callable[[], Any]) -> None:
        super().__init__(upload_idle_expiry)
        self._open_database = open_database
        self._db: Any = None
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            try:
                if self._db is None:
                    self._db = self._open_database()
                self._loop.run_until_complete(self.refresh(self._db))
            except Exception as exc:
                log.warning("the metrics cannot open the database: %s", exc)
        yield from super().collect()


# --------------------------------------------------------------------------- serving


def registry(*collectors: Collector) -> CollectorRegistry:
    """The workers' metrics (or this process's, without a multiprocess directory), then
    `collectors`."""
    found = CollectorRegistry(auto_describe=False)
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        Workers(found, path)
    else:
        found.register(_ThisProcess())
    for collector in collectors:
        found.register(collector)
    return found


def render(found: CollectorRegistry) -> bytes:
    return generate_latest(found)


def split_address(address: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:9100` for IPv6) → (host, port)."""
    host, _, port = address.strip().rpartition(":")
    return host.strip("[]"), int(port)


def _database_from_environment() -> Any:
    """The database the workers use, as `cargohold serve` resolved it into the
    environment (no settings model here: see the module's docstring)."""
    env = os.environ
    url = env.get("CARGOHOLD_DATABASE_URL")
    if url and not url.startswith("sqlite:"):
        from cargohold.metadata.postgres import PostgresDatabase

        return PostgresDatabase(
            url,
            max_connections=1,
            connect_timeout=float(env.get("CARGOHOLD_DATABASE_CONNECT_TIMEOUT", "2")),
            command_timeout=float(env.get("CARGOHOLD_DATABASE_COMMAND_TIMEOUT", "15")),
        )
    from cargohold.metadata.db import SQLiteDatabase

    if url:
        return SQLiteDatabase(Path(url.removeprefix("sqlite:///")))
    return SQLiteDatabase(Path(env.get("CARGOHOLD_DATA_DIR", "./cargohold-data")) / "cargohold.db")


def serve_in_background(address: str) -> None:
    """The metrics server of the main process: `/metrics` (any path, in fact) on
    `address`, in daemon threads, for as long as the process runs."""
    from prometheus_client import start_http_server

    env = os.environ
    host, port = split_address(address)
    totals = BlockingTotals(
        float(env.get("CARGOHOLD_UPLOAD_IDLE_EXPIRY", "86400")), _database_from_environment
    )
    build = build_info(
        env.get("CARGOHOLD_STORAGE", "filesystem"), env.get("CARGOHOLD_DATABASE_URL")
    )
    start_http_server(port, addr=host, registry=registry(build, totals))
    log.info("metrics at http://%s/metrics", address)
