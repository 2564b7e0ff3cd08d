"""Cargohold-only figure: what the metrics cost on the hot path.

Two more Cargoholds run side by side, each with its own data directory: one with metrics
off, one with ``CARGOHOLD_METRICS_ADDRESS`` (its metrics server scraped every second while
the figure runs, more often than any Prometheus would). Each gets the same small image;
then the manifest GET of the main manifest figure runs on both, rounds alternating which
goes first. The target: with metrics, at least 0.9 of the requests per second without.
Beside it, one more run per server measures its CPU time per request (all its processes,
the metrics server's scrapes included): a machine busy with other work skews requests per
second, much less the CPU each request costs.

Quick run, this figure alone:  python -m bench.metrics_cost [--duration 10] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench import client
from bench.data import OCI_MANIFEST, config_blob, image_manifest, sha256_bytes
from bench.figures import Context, Measurement, WrkTarget, wrk_rounds
from bench.servers import Server, cpu_seconds, free_port

KEY = "metrics_manifest_rps"
REPO = "bench/metrics"
SCRAPE_INTERVAL = 1.0


def push_image(server: Server) -> bytes:
    layer = os.urandom(4096)
    config = config_blob([sha256_bytes(layer)])
    manifest = image_manifest(config, [(sha256_bytes(layer), len(layer))])
    client.push_blob(server.base, REPO, config, sha256_bytes(config))
    client.push_blob(server.base, REPO, layer, sha256_bytes(layer))
    client.push_manifest(server.base, REPO, "v1", manifest)
    return manifest


class Scraper:
    """GETs `url` every `SCRAPE_INTERVAL` in a thread; counts the scrapes that worked."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.scrapes = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scraper", daemon=True)

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SCRAPE_INTERVAL):
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    ok = (
                        response.status == 200
                        and b"cargohold_http_requests_total" in response.read()
                    )
            except OSError:
                ok = False
            self.scrapes += ok
            self.failures += not ok


def cpu_per_request(ctx: Context, server: Server, target: WrkTarget) -> float:
    """One more wrk run on `target`: the server's CPU microseconds per request."""
    assert server.proc is not None
    before = cpu_seconds(server.proc.pid)
    run = client.wrk(
        target.url, connections=32, duration=ctx.duration, headers=target.headers, timeout=30
    )
    used = cpu_seconds(server.proc.pid) - before
    return round(used / max(run.requests, 1) * 1e6, 1)


def metrics_manifest_rps(ctx: Context) -> None:
    """8. Cargohold only: manifest GETs at 32 connections, metrics off vs on."""
    main = next((s for s in ctx.servers if s.name == "cargohold"), None)
    if main is None:
        ctx.log("  skipped: Cargohold is not part of this run")
        return
    address = f"127.0.0.1:{free_port()}"
    off = Server("cargohold", ctx.work / "metrics-off" / "data", workers=main.workers)
    on = Server(
        "cargohold", ctx.work / "metrics-on" / "data", workers=main.workers,
        extra_env={"CARGOHOLD_METRICS_ADDRESS": address},
    )  # fmt: skip
    started: list[Server] = []
    try:
        for server in (off, on):
            ctx.log(f"  starting cargohold ({'metrics on' if server is on else 'metrics off'})")
            server.start()
            started.append(server)
            manifest = push_image(server)
            status, body = client.get(f"{server.base}/v2/{REPO}/manifests/v1", OCI_MANIFEST)
            if (status, body) != (200, manifest):
                raise client.BenchError(f"manifest read back: HTTP {status}")
        targets = [
            WrkTarget(name, f"{s.base}/v2/{REPO}/manifests/v1", {"Accept": OCI_MANIFEST})
            for name, s in (("off", off), ("on", on))
        ]
        with Scraper(f"http://{address}/metrics") as scraper:
            measured = wrk_rounds(ctx, KEY, targets, 32, lambda r: r.rps, "req/s", strict=True)
            for target, server in zip(targets, (off, on), strict=True):
                measured[target.name].detail["cpu_us_per_request"] = cpu_per_request(
                    ctx, server, target
                )
        if not scraper.scrapes or scraper.failures:
            raise client.BenchError(
                f"metrics server: {scraper.scrapes} scrapes, {scraper.failures} failed"
            )
        measured["on"].detail["scrapes"] = scraper.scrapes
    except Exception:
        for server in started:
            ctx.log(f"{server.data_dir.parent.name} log tail:\n{server.log(1500)}")
        raise
    finally:
        for server in started:
            server.stop()
    ctx.results[KEY] = measured
    ratio = measured["on"].value / measured["off"].value
    cpu_off, cpu_on = (measured[n].detail["cpu_us_per_request"] for n in ("off", "on"))
    ctx.log(
        f"  metrics on / off: {ratio:.3f} req/s (target >= 0.9); CPU per request {cpu_on} µs"
        f" on, {cpu_off} µs off: {cpu_off / cpu_on:.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics_cost", description=__doc__)
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    parser.add_argument("--wrk-rounds", type=int, default=3, help="wrk runs per variant")
    parser.add_argument("--workers", type=int, help="pass --workers N to cargohold serve")
    args = parser.parse_args(argv)

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="cargohold-bench-metrics-") as work:
        main_server = Server("cargohold", Path(work) / "unused", workers=args.workers)
        ctx = Context(
            servers=[main_server], work=Path(work), size=0, repeat=1,
            duration=args.duration, small_layers=0, seed=0, wrk_rounds=args.wrk_rounds,
            drop_caches=False, log=log,
        )  # fmt: skip
        metrics_manifest_rps(ctx)
    measured: dict[str, Measurement] = ctx.results[KEY]
    for name in ("off", "on"):
        m = measured[name]
        runs = ", ".join(f"{s:,.0f}" for s in m.samples)
        print(f"metrics {name:3}: {m.value:,.0f} req/s (runs: {runs})")
        print(f"  CPU per request: {m.detail['cpu_us_per_request']} µs")
    print(f"on / off: {measured['on'].value / measured['off'].value:.3f} (target >= 0.9)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
