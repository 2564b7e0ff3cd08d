"""The measured figures. Each runs the same client, data and steps against every server,
one server at a time, alternating which goes first."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import client
from bench.data import (
    OCI_MANIFEST,
    BlobFile,
    MiB,
    config_blob,
    image_manifest,
    sha256_bytes,
    small_layers_layout,
)
from bench.limit import FileServer
from bench.servers import Server, cpu_seconds

BIG_REPO = "bench/big"
BLOB_REPO = "bench/blob"
SMALL_REPO = "bench/small"
BLOB_GET_MIB = 64
LOADED_PUSHERS = 4  # figure 8: clients pushing large layers at once
LOADED_CONNECTIONS = 4  # and probe connections asking for the manifest meanwhile,
LOADED_RATE = 10.0  # each this many times a second
LOADED_TIMEOUT = 600.0  # seconds any one push may take before the run fails


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
    wrk_rounds: int
    drop_caches: bool
    log: Callable[[str], None]
    results: Results = field(default_factory=dict)
    big: BlobFile | None = None
    limit: FileServer | None = None  # nginx serving the same files (bench/limit.py)
    accel: Server | None = None  # Cargohold behind nginx with X-Accel-Redirect (bench/accel.py)

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


def _drop_caches(ctx: Context, keep: Path) -> None:
    """Before a large write: empty the page cache, then read ``keep`` (the client's input)
    back into it.

    In a VM, page cache grown into guest memory never touched before costs several times
    more system time per page than recycled memory (seen here: 3-4 s of sys time per GiB
    written instead of 0.2-0.8 s), and which of the two a push gets depends on what ran
    before it. Dropping the cache first gives every push recycled pages.
    """
    _settle()
    if ctx.drop_caches:
        try:
            with open("/proc/sys/vm/drop_caches", "w") as fh:
                fh.write("1\n")
        except OSError as exc:
            ctx.log(f"  cannot drop the page cache ({exc}); going on without")
            ctx.drop_caches = False
    _read_into_cache(keep)


def _read_into_cache(path: Path) -> None:
    with open(path, "rb") as fh:
        buf = bytearray(4 * MiB)
        while fh.readinto(buf):
            pass


def push_big(ctx: Context) -> None:
    """1. Monolithic push of a large layer (POST, then PUT ?digest= streaming the file)."""
    ctx.log(f"generating {ctx.size // MiB} MiB layer")
    big = ctx.big = BlobFile(ctx.work / "big.bin", ctx.size, ctx.seed)
    per: dict[str, list[client.Transfer]] = {s.name: [] for s in ctx.servers}
    rss: dict[str, list[dict[str, Any]]] = {s.name: [] for s in ctx.servers}
    for rep in range(ctx.repeat):
        if rep:
            big.renew()  # a blob neither server has seen
        config = config_blob([big.digest])
        manifest = image_manifest(config, [(big.digest, big.size)])
        for server in ctx.order(rep):
            client.push_blob(server.base, BIG_REPO, config, sha256_bytes(config))
            _drop_caches(ctx, big.path)
            assert server.sampler is not None
            with server.sampler.window() as window:
                start = time.perf_counter()
                location = client.start_upload(server.base, BIG_REPO)
                client.curl_put_file(location, big.digest, big.path)
                seconds = time.perf_counter() - start
            client.push_manifest(server.base, BIG_REPO, "v1", manifest)
            status, body = client.get(f"{server.base}/v2/{BIG_REPO}/manifests/v1", OCI_MANIFEST)
            if (status, body) != (200, manifest):
                raise client.BenchError(f"{server.name}: manifest read back differs ({status})")
            per[server.name].append(client.Transfer(seconds, big.size))
            rss[server.name].append(window)
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
        windows = rss[server.name]
        peaks = [w["rss_kib"] / 1024 for w in windows]
        top = max(windows, key=lambda w: int(w["rss_kib"]))
        detail = {
            "pss_mib": round(max(w["pss_kib"] for w in windows) / 1024, 1),
            "per_process_mib": [round(k / 1024, 1) for k in top["per_process_kib"]],
        }
        ctx.record(
            "rss_push", server,
            Measurement(max(peaks), "MiB", [round(p, 1) for p in peaks], detail),
        )  # fmt: skip


def _read_servers(ctx: Context, servers: list[Server]) -> list[Server]:
    """The servers, then (read figures) the accel front and the limit, when they run."""
    extra = [s for s in (ctx.accel, ctx.limit) if s is not None]
    return [*servers, *extra]


def pull_big(ctx: Context) -> None:
    """2. GET of the large blob to /dev/null (and through nginx with X-Accel-Redirect, and of
    the same file from nginx, the limit)."""
    assert ctx.big is not None
    big = ctx.big
    registries = ctx.servers if ctx.accel is None else [*ctx.servers, ctx.accel]
    urls = {s.name: f"{s.base}/v2/{BIG_REPO}/blobs/{big.digest}" for s in registries}
    if ctx.limit is not None:
        urls[ctx.limit.name] = ctx.limit.serve(big.path, "big.bin")
    everyone = _read_servers(ctx, ctx.servers)
    per: dict[str, list[client.Transfer]] = {s.name: [] for s in everyone}
    for rep in range(ctx.repeat):
        k = rep % len(everyone)
        for server in everyone[k:] + everyone[:k]:
            url = urls[server.name]
            client.curl_get(url)  # untimed: every server serves the blob from the page cache
            _settle()
            t = client.curl_get(url)
            if t.size != big.size:
                raise client.BenchError(f"{server.name}: pulled {t.size} of {big.size} bytes")
            per[server.name].append(t)
            ctx.log(f"  pull {server.name}: {t.seconds:.2f} s, {t.mib_s:.0f} MiB/s")
    for server in everyone:
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
    """3. skopeo copy of an OCI layout holding one image of many small layers.

    With it, the CPU time the server and skopeo each spent on each push: skopeo's own share
    bounds how fast any registry can take the push on a machine with few cores."""
    per: dict[str, list[float]] = {s.name: [] for s in ctx.servers}
    server_cpu: dict[str, list[float]] = {s.name: [] for s in ctx.servers}
    client_cpu: dict[str, list[float]] = {s.name: [] for s in ctx.servers}
    total = 0
    # Untimed warm-up: skopeo's binary and its first connection, for both servers.
    warm = small_layers_layout(ctx.work / "small-warm", 2, ctx.seed * 1000 + 999)
    for server in ctx.servers:
        client.skopeo_copy(warm.path, "v1", f"{server.host}/bench/warmup:v1")
    for rep in range(ctx.repeat):
        # New layers each time: nothing to reuse on the server nor in skopeo's blob cache.
        layout = small_layers_layout(
            ctx.work / f"small-{rep}", ctx.small_layers, ctx.seed * 1000 + rep
        )
        total = layout.total_bytes
        for server in ctx.order(rep):
            _settle()
            assert server.proc is not None
            cpu_before = cpu_seconds(server.proc.pid)
            run = client.skopeo_copy(layout.path, "v1", f"{server.host}/{SMALL_REPO}:v1")
            server_cpu[server.name].append(cpu_seconds(server.proc.pid) - cpu_before)
            client_cpu[server.name].append(run.cpu_seconds)
            status, _ = client.get(
                f"{server.base}/v2/{SMALL_REPO}/manifests/v1", accept=OCI_MANIFEST
            )
            if status != 200:
                raise client.BenchError(f"{server.name}: pushed image not found ({status})")
            per[server.name].append(run.seconds)
            ctx.log(
                f"  skopeo {server.name}: {run.seconds:.2f} s (CPU: server"
                f" {server_cpu[server.name][-1]:.2f} s, skopeo {run.cpu_seconds:.2f} s)"
            )
    for server in ctx.servers:
        runs = per[server.name]
        ctx.record(
            "push_small", server,
            Measurement(statistics.median(runs), "s", [round(s, 3) for s in runs],
                        {"layers": ctx.small_layers, "bytes": total}),
        )  # fmt: skip
        used, theirs = server_cpu[server.name], client_cpu[server.name]
        ctx.record(
            "push_small_cpu", server,
            Measurement(statistics.median(used), "s", [round(s, 3) for s in used],
                        {"client_cpu_seconds": statistics.median(theirs),
                         "client_cpu_samples": [round(s, 3) for s in theirs]}),
        )  # fmt: skip


@dataclass(frozen=True)
class WrkTarget:
    """What one side of a wrk comparison GETs: a server, or a variant of a request."""

    name: str
    url: str
    headers: dict[str, str] | None = None


def wrk_rounds(
    ctx: Context,
    key: str,
    targets: list[WrkTarget],
    connections: int,
    metric: Callable[[client.WrkResult], float],
    unit: str,
    *,
    strict: bool = False,
) -> dict[str, Measurement]:
    """Warm each target up (2 s), then ``ctx.wrk_rounds`` wrk runs per target, rotating
    which goes first; the median per target. Non-2xx responses and socket errors are
    reported; with ``strict``, any non-2xx response (warm-up included) is an error."""

    def run(target: WrkTarget, duration: float) -> client.WrkResult:
        r = client.wrk(
            target.url, connections=connections, duration=duration, headers=target.headers,
            timeout=30,
        )  # fmt: skip
        if strict and r.non_2xx:
            raise client.BenchError(
                f"{key} {target.name}: {r.non_2xx} non-2xx responses of {r.requests}"
            )
        return r

    runs: dict[str, list[client.WrkResult]] = {t.name: [] for t in targets}
    for target in targets:
        run(target, 2)
    for turn in range(ctx.wrk_rounds):
        k = turn % len(targets)
        for target in targets[k:] + targets[:k]:
            _settle()
            r = run(target, ctx.duration)
            runs[target.name].append(r)
            ctx.log(
                f"  {key} {target.name}: {metric(r):,.1f} {unit}, p50 {r.p50_ms:.1f} ms,"
                f" p99 {r.p99_ms:.1f} ms, non-2xx {r.non_2xx}, socket errors {r.socket_errors}"
            )
    out: dict[str, Measurement] = {}
    for target in targets:
        rs = runs[target.name]
        detail = {
            "requests": sum(r.requests for r in rs),
            "wrk_seconds": round(sum(r.seconds for r in rs), 3),
            "bytes": sum(r.bytes for r in rs),
            "non_2xx": sum(r.non_2xx for r in rs),
            "socket_errors": sum(r.socket_errors for r in rs),
            "p50_ms": [round(r.p50_ms, 3) for r in rs],
            "p99_ms": [round(r.p99_ms, 3) for r in rs],
        }
        if detail["non_2xx"] or detail["socket_errors"]:
            ctx.log(f"  WARNING {target.name}: {detail}")
        value = statistics.median(metric(r) for r in rs)
        out[target.name] = Measurement(value, unit, [round(metric(r), 1) for r in rs], detail)
    return out


def _wrk_pair(
    ctx: Context,
    key: str,
    path: str,
    connections: int,
    headers: dict[str, str] | None,
    metric: Callable[[client.WrkResult], float],
    unit: str,
) -> None:
    """The same wrk runs on every server (:func:`wrk_rounds`), recorded per server."""
    targets = [WrkTarget(s.name, f"{s.base}{path}", headers) for s in ctx.servers]
    measured = wrk_rounds(ctx, key, targets, connections, metric, unit)
    for server in ctx.servers:
        ctx.record(key, server, measured[server.name])


def manifest_rps(ctx: Context) -> None:
    """4. Manifest GETs per second at 32 connections (wrk)."""
    _wrk_pair(
        ctx, "manifest_rps", f"/v2/{BIG_REPO}/manifests/v1", 32,
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
    path = f"/v2/{BLOB_REPO}/blobs/{blob.digest}"
    registries = ctx.servers if ctx.accel is None else [*ctx.servers, ctx.accel]
    targets = [WrkTarget(s.name, f"{s.base}{path}") for s in registries]
    if ctx.limit is not None:
        url = ctx.limit.serve(blob.path, "blob.bin")
        targets.append(WrkTarget(ctx.limit.name, url))
    measured = wrk_rounds(ctx, "blob_get", targets, 4, lambda r: r.mib_s, "MiB/s")
    for server in _read_servers(ctx, ctx.servers):
        ctx.record("blob_get", server, measured[server.name])


def manifest_p99_under_push(ctx: Context) -> None:
    """8. Manifest GET p99 latency while 4 clients push large layers (a fixed-rate probe).

    A server that hashes, writes or fsyncs a large upload on the thread that answers
    requests makes every request wait meanwhile; this is the latency a pull sees during
    big pushes. Each server gets the same four new layers (of ``--size-mib``), pushed at
    once (monolithic, curl), while a probe asks for the manifest of figure 1 at a fixed
    rate (LOADED_RATE a second on each of LOADED_CONNECTIONS connections, light next to
    figure 4) from just before the pushes start until the last one is done; each answer
    is timed from when its request was due (see client.LatencyProbe).
    """
    layers = [
        BlobFile(ctx.work / f"loaded-{i}.bin", ctx.size, ctx.seed + 100 + i)
        for i in range(LOADED_PUSHERS)
    ]
    for server in ctx.order(1):
        _drop_caches(ctx, layers[0].path)
        for layer in layers[1:]:
            _read_into_cache(layer.path)
        url = f"{server.base}/v2/{BIG_REPO}/manifests/v1"
        locations = [client.start_upload(server.base, BIG_REPO) for _ in layers]
        probe = client.LatencyProbe(
            url, rate=LOADED_RATE, connections=LOADED_CONNECTIONS, headers={"Accept": OCI_MANIFEST}
        ).start()
        try:
            time.sleep(0.5)
            start = time.perf_counter()
            with ThreadPoolExecutor(len(layers)) as pool:
                pushes = [
                    pool.submit(
                        client.curl_put_file, location, layer.digest, layer.path, LOADED_TIMEOUT
                    )
                    for location, layer in zip(locations, layers, strict=True)
                ]
                transfers = [push.result() for push in pushes]
            seconds = time.perf_counter() - start
        finally:
            r = probe.stop()
        total = sum(t.size for t in transfers)
        p50, p99, worst = (r.percentile(q) * 1000 for q in (50, 99, 100))
        if r.errors:
            ctx.log(f"  WARNING {server.name}: {r.errors} probe requests failed")
        ctx.log(
            f"  {server.name}: manifest GET p99 {p99:.1f} ms, p50 {p50:.1f} ms, max"
            f" {worst:.0f} ms ({len(r.latencies)} GETs) while {len(layers)} pushes took"
            f" {seconds:.1f} s ({total / MiB / seconds:.0f} MiB/s in all)"
        )
        ctx.record(
            "manifest_p99_push", server,
            Measurement(
                p99, "ms", [round(p99, 3)],
                {"p50_ms": round(p50, 3), "max_ms": round(worst, 3),
                 "requests": len(r.latencies), "errors": r.errors,
                 "rate_per_connection": LOADED_RATE, "connections": LOADED_CONNECTIONS,
                 "pushers": len(layers), "push_seconds": round(seconds, 3),
                 "push_seconds_each": [round(t.seconds, 3) for t in transfers],
                 "push_mib_s": round(total / MiB / seconds, 1)},
            ),
        )  # fmt: skip
    for layer in layers:
        layer.path.unlink(missing_ok=True)


def peak_rss(ctx: Context) -> None:
    """6b. Overall peak RSS of each server's process tree over the whole run."""
    for server in ctx.servers:
        sampler = server.sampler
        assert sampler is not None
        detail = {
            "max_processes": sampler.max_procs,
            "pss_mib": round(sampler.peak_pss_kib / 1024, 1),
            "per_process_mib": [round(k / 1024, 1) for k in sampler.peak.per_process_kib],
        }
        ctx.record("rss_peak", server, Measurement(sampler.peak_kib / 1024, "MiB", detail=detail))
