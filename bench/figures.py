"""The measured figures. Each runs the same client, data and steps against every server,
one server at a time, alternating which goes first."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import client
from bench.data import (
    MiB,
    OCI_MANIFEST,
    BlobFile,
    config_blob,
    image_manifest,
    sha256_bytes,
    small_layers_layout,
)
from bench.servers import Server

BIG_REPO = "bench/big"
BLOB_REPO = "bench/blob"
SMALL_REPO = "bench/small"
BLOB_GET_MIB = 64


@dataclass
class Measurement:
    value: float
    unit: str
    samples: list[float] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


Results = dict[str, dict[str, Measurement]]


@dataclass
class Context:
    servers: list[Server]
    work: Path
    size: int
    repeat: int
    duration: float
    small_layers: int
    seed: int
    log: Callable[[str], None]
    results: Results = field(default_factory=dict)
    big: BlobFile | None = None

    def order(self, turn: int) -> list[Server]:
        """The servers, rotated by ``turn``, so that neither always goes first."""
        k = turn % len(self.servers)
        return self.servers[k:] + self.servers[:k]

    def record(self, key: str, server: Server, m: Measurement) -> None:
        self.results.setdefault(key, {})[server.name] = m


def _settle() -> None:
    """Flush dirty pages left by the previous step so that it does not slow the next one."""
    os.sync()
    time.sleep(0.2)


def push_big(ctx: Context) -> None:
    """1. Monolithic push of a large layer (POST, then PUT ?digest= streaming the file)."""
    ctx.log(f"generating {ctx.size // MiB} MiB layer")
    big = ctx.big = BlobFile(ctx.work / "big.bin", ctx.size, ctx.seed)
    per: dict[str, list[client.Transfer]] = {s.name: [] for s in ctx.servers}
    rss: dict[str, list[int]] = {s.name: [] for s in ctx.servers}
    for rep in range(ctx.repeat):
        if rep:
            big.renew()  # a blob neither server has seen
        config = config_blob([big.digest])
        manifest = image_manifest(config, [(big.digest, big.size)])
        for server in ctx.order(rep):
            client.push_blob(server.base, BIG_REPO, config, sha256_bytes(config))
            _settle()
            assert server.sampler is not None
            with server.sampler.window() as window:
                start = time.perf_counter()
                location = client.start_upload(server.base, BIG_REPO)
                client.curl_put_file(location, big.digest, big.path)
                seconds = time.perf_counter() - start
            client.push_manifest(server.base, BIG_REPO, "v1", manifest)
            per[server.name].append(client.Transfer(seconds, big.size))
            rss[server.name].append(window["peak_kib"])
            ctx.log(f"  push {server.name}: {seconds:.2f} s, {big.size / MiB / seconds:.0f} MiB/s")
    for server in ctx.servers:
        runs = per[server.name]
        ctx.record(
            "push_big", server,
            Measurement(
                statistics.median(t.mib_s for t in runs), "MiB/s",
                [round(t.mib_s, 1) for t in runs],
                {"seconds": statistics.median(t.seconds for t in runs),
                 "seconds_samples": [round(t.seconds, 3) for t in runs]},
            ),
        )  # fmt: skip
        peaks = [kib / 1024 for kib in rss[server.name]]
        ctx.record(
            "rss_push", server, Measurement(max(peaks), "MiB", [round(p, 1) for p in peaks])
        )


def pull_big(ctx: Context) -> None:
    """2. GET of the large blob to /dev/null."""
    assert ctx.big is not None
    big = ctx.big
    per: dict[str, list[client.Transfer]] = {s.name: [] for s in ctx.servers}
    for rep in range(ctx.repeat):
        for server in ctx.order(rep):
            _settle()
            t = client.curl_get(f"{server.base}/v2/{BIG_REPO}/blobs/{big.digest}")
            if t.size != big.size:
                raise client.BenchError(f"{server.name}: pulled {t.size} of {big.size} bytes")
            per[server.name].append(t)
            ctx.log(f"  pull {server.name}: {t.seconds:.2f} s, {t.mib_s:.0f} MiB/s")
    for server in ctx.servers:
        runs = per[server.name]
        ctx.record(
            "pull_big", server,
            Measurement(
                statistics.median(t.mib_s for t in runs), "MiB/s",
                [round(t.mib_s, 1) for t in runs],
                {"seconds": statistics.median(t.seconds for t in runs),
                 "seconds_samples": [round(t.seconds, 3) for t in runs]},
            ),
        )  # fmt: skip


def push_small(ctx: Context) -> None:
    """3. skopeo copy of an OCI layout holding one image of many small layers."""
    per: dict[str, list[float]] = {s.name: [] for s in ctx.servers}
    total = 0
    for rep in range(ctx.repeat):
        # New layers each time: nothing to reuse on the server nor in skopeo's blob cache.
        layout = small_layers_layout(
            ctx.work / f"small-{rep}", ctx.small_layers, ctx.seed * 1000 + rep
        )
        total = layout.total_bytes
        for server in ctx.order(rep):
            _settle()
            seconds = client.skopeo_copy(layout.path, "v1", f"{server.host}/{SMALL_REPO}:v1")
            status = client.get_status(
                f"{server.base}/v2/{SMALL_REPO}/manifests/v1", accept=OCI_MANIFEST
            )
            if status != 200:
                raise client.BenchError(f"{server.name}: pushed image not found ({status})")
            per[server.name].append(seconds)
            ctx.log(f"  skopeo {server.name}: {seconds:.2f} s")
    for server in ctx.servers:
        runs = per[server.name]
        ctx.record(
            "push_small", server,
            Measurement(statistics.median(runs), "s", [round(s, 3) for s in runs],
                        {"layers": ctx.small_layers, "bytes": total}),
        )  # fmt: skip


def _wrk_pair(
    ctx: Context,
    key: str,
    turn: int,
    path: str,
    connections: int,
    headers: dict[str, str] | None,
    metric: Callable[[client.WrkResult], float],
    unit: str,
) -> None:
    for server in ctx.order(turn):
        url = f"{server.base}{path}"
        _settle()
        client.wrk(url, connections=connections, duration=2, headers=headers, timeout=30)
        r = client.wrk(
            url, connections=connections, duration=ctx.duration, headers=headers, timeout=30
        )
        detail = {
            "requests": r.requests,
            "seconds": round(r.seconds, 3),
            "bytes": r.bytes,
            "non_2xx": r.non_2xx,
            "socket_errors": r.socket_errors,
            "p50_ms": round(r.p50_ms, 3),
            "p99_ms": round(r.p99_ms, 3),
        }
        ctx.record(key, server, Measurement(metric(r), unit, detail=detail))
        ctx.log(f"  {key} {server.name}: {metric(r):.1f} {unit} {detail}")
        if r.non_2xx or r.socket_errors:
            ctx.log(f"  WARNING {server.name}: {r.non_2xx} non-2xx, {r.socket_errors} errors")


def manifest_rps(ctx: Context) -> None:
    """4. Manifest GETs per second at 32 connections (wrk)."""
    _wrk_pair(
        ctx, "manifest_rps", 0, f"/v2/{BIG_REPO}/manifests/v1", 32,
        {"Accept": OCI_MANIFEST}, lambda r: r.rps, "req/s",
    )  # fmt: skip


def blob_get(ctx: Context) -> None:
    """5. Concurrent GETs of a 64 MiB blob (wrk, 4 connections)."""
    blob = BlobFile(ctx.work / "blob.bin", BLOB_GET_MIB * MiB, ctx.seed + 1)
    data = blob.path.read_bytes()
    config = config_blob([blob.digest])
    manifest = image_manifest(config, [(blob.digest, blob.size)])
    for server in ctx.servers:
        client.push_blob(server.base, BLOB_REPO, config, sha256_bytes(config))
        client.push_blob(server.base, BLOB_REPO, data, blob.digest)
        client.push_manifest(server.base, BLOB_REPO, "v1", manifest)
    _wrk_pair(
        ctx, "blob_get", 1, f"/v2/{BLOB_REPO}/blobs/{blob.digest}", 4,
        None, lambda r: r.mib_s, "MiB/s",
    )  # fmt: skip


def peak_rss(ctx: Context) -> None:
    """6b. Overall peak RSS of each server's process tree over the whole run."""
    for server in ctx.servers:
        assert server.sampler is not None
        ctx.record(
            "rss_peak", server,
            Measurement(server.sampler.peak_kib / 1024, "MiB",
                        detail={"max_processes": server.sampler.max_procs}),
        )  # fmt: skip


FIGURES: list[Callable[[Context], None]] = [
    push_big,
    pull_big,
    push_small,
    manifest_rps,
    blob_get,
    peak_rss,
]
