"""python -m bench --gc: garbage collection, Cargohold (online) beside distribution (offline).

1. Collection of the same garbage. Per round, both servers start with new data
   directories; each in turn gets the same images pushed, half of them deleted by digest,
   then collected: ``cargohold gc --grace 0 --quiet`` while the server serves (a client GETs
   a kept manifest in a loop meanwhile), ``docker-registry garbage-collect CONFIG`` with the
   server stopped (the reference collects offline only), timed, and the server restarted:
   the time from stop to ready again is its downtime. Then both are checked: the deleted
   images' blobs are gone from storage and answer 404, every kept image pulls.
2. Serving while collecting (Cargohold): manifest GETs (wrk, 32 connections) on an idle
   server, then while ``cargohold gc`` collects a larger set, then idle again. The
   reference cannot serve during its collection; its collection of the same larger set is
   timed offline instead, which is how long it would be down.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench import client
from bench.data import OCI_MANIFEST, MiB
from bench.figures import Measurement
from bench.gcdata import ImageSet, Shape, delete, make_set, push, stored_blobs, verify
from bench.servers import DISTRIBUTION_BIN, RssSampler, Server

# Part 1: 200 images in 10 repositories, each 2-3 unique layers of 2-8 KiB, a config and a
# shared 1 MiB layer; every 25th image also has a unique 16 MiB layer. Half are deleted.
SAME = Shape(
    images=200, repos=10, layers=(2, 3), layer_bytes=(2048, 8192), shared_bytes=MiB,
    big_every=25, big_bytes=16 * MiB, keep_every=2,
)  # fmt: skip
# Part 2: more, smaller images, nine in ten deleted, so that a collection lasts seconds.
LARGER = Shape(
    images=800, repos=20, layers=(4, 4), layer_bytes=(1024, 2048), shared_bytes=256 * 1024,
    big_every=0, big_bytes=0, keep_every=10,
)  # fmt: skip
CONNECTIONS = 32


@dataclass
class GcContext:
    names: list[str]
    work: Path
    rounds: int
    images: int
    larger_images: int
    duration: float
    workers: int | None
    seed: int
    log: Callable[[str], None]


def _settle() -> None:
    subprocess.run(["sync"], check=False)
    time.sleep(0.2)


def _config(server: Server) -> Path:
    return server.data_dir.parent / f"{server.name}-config.yml"


def _stored(server: Server) -> tuple[int, int]:
    blobs = stored_blobs(server)
    return len(blobs), sum(blobs.values())


# -- collecting


def cargohold_gc_command(server: Server) -> list[str]:
    return [
        sys.executable, "-m", "cargohold", "gc", "--grace", "0", "--quiet",
        "--data-dir", str(server.data_dir),
    ]  # fmt: skip


def _parse_cargohold(out: str) -> dict[str, Any]:
    """The summary `cargohold gc` prints: its own timing and the blob row."""
    took = re.search(r"^took ([\d.]+) s$", out, re.MULTILINE)
    blobs = re.search(r"blobs no package links\W+(\d+)\W+([\d.]+ \w+)", out)
    return {
        "collect_seconds": float(took.group(1)) if took else None,
        "blobs_reported": int(blobs.group(1)) if blobs else None,
        "bytes_reported": blobs.group(2) if blobs else None,
    }


@contextmanager
def _probe(server: Server, url: str, pause: float = 0.01) -> Iterator[dict[str, int]]:
    """GET ``url`` every ``pause`` seconds in a thread while the block runs (a light load: it
    shows that the server answers, and leaves the CPU to the collector); counts by outcome."""
    counts = {"ok": 0, "other": 0}
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                status, _ = client.get(url, OCI_MANIFEST)
            except OSError:
                status = 0
            counts["ok" if status == 200 else "other"] += 1
            stop.wait(pause)

    thread = threading.Thread(target=loop, name=f"probe-{server.name}", daemon=True)
    thread.start()
    try:
        yield counts
    finally:
        stop.set()
        thread.join()


def _run_gc(cmd: list[str], env: dict[str, str] | None, what: str) -> tuple[float, str, float]:
    """Run a collector; wall seconds, its output, and its peak RSS in MiB."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=env, text=True,
    )  # fmt: skip
    sampler = RssSampler(proc.pid, interval=0.02)
    sampler.start()
    try:
        out, _ = proc.communicate(timeout=600)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    finally:
        sampler.stop()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise client.BenchError(f"{what}: exit {proc.returncode}:\n{out[-2000:]}")
    return seconds, out, round(sampler.peak_kib / 1024, 1)


def collect_cargohold(server: Server, images: ImageSet) -> dict[str, Any]:
    """`cargohold gc` against the serving server's data directory."""
    probe_url = f"{server.base}/v2/{images.kept[0].repo}/manifests/{images.kept[0].tag}"
    with _probe(server, probe_url) as served:
        seconds, out, rss = _run_gc(cargohold_gc_command(server), server.env(), "cargohold gc")
    return {
        "seconds": seconds,
        **_parse_cargohold(out),
        "downtime_seconds": 0.0,
        "served_during_gc": dict(served),
        "gc_peak_rss_mib": rss,
    }


def collect_distribution(server: Server) -> dict[str, Any]:
    """Stop the server, `docker-registry garbage-collect CONFIG`, start it again."""
    down = time.perf_counter()
    server.stop()
    cmd = [DISTRIBUTION_BIN, "garbage-collect", str(_config(server))]
    seconds, out, rss = _run_gc(cmd, None, "docker-registry garbage-collect")
    server.start()
    downtime = time.perf_counter() - down
    counts = re.search(r"(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible", out)
    return {
        "seconds": seconds,
        "downtime_seconds": downtime,
        "blobs_marked": int(counts.group(1)) if counts else None,
        "blobs_eligible": int(counts.group(2)) if counts else None,
        "gc_peak_rss_mib": rss,
    }


def collect_and_check(ctx: GcContext, server: Server, images: ImageSet) -> dict[str, Any]:
    """Push, delete, collect, check; one server."""
    start = time.perf_counter()
    push(server, images)
    pushed = time.perf_counter() - start
    delete(server, images)
    files, size = _stored(server)
    _settle()
    if server.kind == "cargohold":
        out = collect_cargohold(server, images)
    else:
        out = collect_distribution(server)
    files_after, size_after = _stored(server)
    checks = verify(server, images)
    out.update(
        push_seconds=round(pushed, 2),
        blobs_removed=files - files_after,
        bytes_freed=size - size_after,
        checks=checks,
    )
    extra = f", down {out['downtime_seconds']:.2f} s" if out["downtime_seconds"] else ""
    ctx.log(
        f"  {server.name}: collected in {out['seconds']:.2f} s{extra}; {files - files_after}"
        f" blobs, {(size - size_after) / MiB:.1f} MiB freed; kept images pull"
    )
    return out


# -- part 1


def same_garbage(ctx: GcContext) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Per server, each round's collection; and each round's set of images."""
    shape = replace(SAME, images=ctx.images)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in ctx.names}
    sets = []
    for rnd in range(ctx.rounds):
        images = make_set("gc", shape, ctx.seed + rnd)
        sets.append(_set_json(images))
        ctx.log(f"  round {rnd + 1}: {images.describe()}")
        base = ctx.work / f"round-{rnd}"
        servers = [Server(n, base / n / "data", workers=ctx.workers) for n in ctx.names]
        k = rnd % len(servers)
        try:
            for server in servers[k:] + servers[:k]:
                server.start()
                runs[server.name].append(collect_and_check(ctx, server, images))
                server.stop()
        except Exception:
            for server in servers:
                ctx.log(f"{server.name} log tail:\n{server.log(1500)}")
            raise
        finally:
            for server in servers:
                server.stop()
            shutil.rmtree(base, ignore_errors=True)
    return runs, sets


# -- part 2


def _lease_held(db: Path) -> bool:
    """Whether `cargohold gc` holds its lease, that is, is collecting (between taking it and
    releasing it). Peeks at the ``leases`` table, read-only."""
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as conn:
            return conn.execute("SELECT 1 FROM leases WHERE name = 'gc'").fetchone() is not None
    except sqlite3.Error:
        return False


def _wait_lease(db: Path, proc: subprocess.Popen[str], held: bool, timeout: float = 600) -> bool:
    """Until the lease is ``held`` (or not); False if the collector exited first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _lease_held(db) == held:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    raise client.BenchError(f"cargohold gc: lease still {'free' if held else 'held'}")


def _rps(r: client.WrkResult) -> dict[str, Any]:
    return {
        "rps": round(r.rps, 1),
        "requests": r.requests,
        "seconds": round(r.seconds, 3),
        "non_2xx": r.non_2xx,
        "socket_errors": r.socket_errors,
        "p50_ms": round(r.p50_ms, 3),
        "p99_ms": round(r.p99_ms, 3),
    }


def serving(ctx: GcContext, images: ImageSet) -> dict[str, Any]:
    """Cargohold: wrk idle, during `cargohold gc`, idle again."""
    server = Server("cargohold", ctx.work / "larger" / "cargohold" / "data", workers=ctx.workers)
    server.start()
    gc: subprocess.Popen[str] | None = None
    run: client.WrkRun | None = None
    try:
        push(server, images)
        delete(server, images)
        files, size = _stored(server)
        kept = images.kept[0]
        url = f"{server.base}/v2/{kept.repo}/manifests/{kept.tag}"
        headers = {"Accept": OCI_MANIFEST}

        def idle(what: str) -> client.WrkResult:
            _settle()
            r = client.wrk(url, connections=CONNECTIONS, duration=ctx.duration, headers=headers)
            ctx.log(f"  {what}: {r.rps:,.0f} req/s, p99 {r.p99_ms:.1f} ms, non-2xx {r.non_2xx}")
            return r

        client.wrk(url, connections=CONNECTIONS, duration=2, headers=headers)  # warm-up
        before = idle("idle")
        _settle()
        start = time.perf_counter()
        gc = subprocess.Popen(
            cargohold_gc_command(server), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=server.env(), text=True,
        )  # fmt: skip
        db = server.data_dir / "cargohold.db"
        if not _wait_lease(db, gc, held=True):
            raise client.BenchError("cargohold gc ended before it was seen collecting")
        started = time.perf_counter()
        run = client.start_wrk(
            url, connections=CONNECTIONS, max_duration=600, headers=headers, timeout=30
        )
        _wait_lease(db, gc, held=False)  # wrk runs exactly while the collector collects
        during = run.stop()
        run = None
        out, _ = gc.communicate(timeout=600)
        gc_seconds = time.perf_counter() - start
        if gc.returncode != 0:
            raise client.BenchError(f"cargohold gc: exit {gc.returncode}:\n{out[-2000:]}")
        ctx.log(
            f"  during gc: {during.rps:,.0f} req/s, p99 {during.p99_ms:.1f} ms,"
            f" non-2xx {during.non_2xx}; gc {gc_seconds:.1f} s"
        )
        after = idle("idle again")
        files_after, size_after = _stored(server)
        checks = verify(server, images)
    except Exception:
        ctx.log(f"cargohold log tail:\n{server.log(1500)}")
        raise
    finally:
        if run is not None:
            run.kill()
        if gc is not None and gc.poll() is None:
            gc.kill()
            gc.communicate()
        server.stop()
        shutil.rmtree(server.data_dir.parent, ignore_errors=True)
    idle_rps = statistics.mean([before.rps, after.rps])
    return {
        "idle_before": _rps(before),
        "during_gc": _rps(during),
        "idle_after": _rps(after),
        "idle_rps_mean": round(idle_rps, 1),
        "during_over_idle": round(during.rps / idle_rps, 3),
        "gc": {
            "seconds": gc_seconds,
            "startup_seconds": round(started - start, 3),  # command start to lease taken
            **_parse_cargohold(out),
            "blobs_removed": files - files_after,
            "bytes_freed": size - size_after,
        },
        "checks": checks,
    }


def offline_larger(ctx: GcContext, images: ImageSet) -> dict[str, Any]:
    """distribution: the same larger set, collected offline (its downtime)."""
    server = Server("distribution", ctx.work / "larger" / "distribution" / "data")
    server.start()
    try:
        return collect_and_check(ctx, server, images)
    except Exception:
        ctx.log(f"distribution log tail:\n{server.log(1500)}")
        raise
    finally:
        server.stop()
        shutil.rmtree(server.data_dir.parent, ignore_errors=True)


# -- the whole run


def _median(runs: list[dict[str, Any]], key: str, unit: str) -> Measurement:
    values = [float(r[key]) for r in runs]
    return Measurement(statistics.median(values), unit, [round(v, 3) for v in values])


def run(ctx: GcContext) -> dict[str, Any]:
    ctx.log(f"1. same garbage, {ctx.rounds} rounds")
    same, same_sets = same_garbage(ctx)
    results: dict[str, Any] = {"same_garbage": {}, "larger": {}}
    for name, runs in same.items():
        results["same_garbage"][name] = {
            "collect_seconds": asdict(_median(runs, "seconds", "s")),
            "downtime_seconds": asdict(_median(runs, "downtime_seconds", "s")),
            "runs": runs,
        }
        if name == "cargohold":
            results["same_garbage"][name]["in_process_seconds"] = asdict(
                _median(runs, "collect_seconds", "s")
            )
    larger = make_set("gcl", replace(LARGER, images=ctx.larger_images), ctx.seed + 1000)
    ctx.log(f"2. serving while collecting: {larger.describe()}")
    if "cargohold" in ctx.names:
        results["larger"]["cargohold"] = serving(ctx, larger)
    if "distribution" in ctx.names:
        results["larger"]["distribution"] = offline_larger(ctx, larger)
        results["larger"]["distribution"]["serving_during_gc"] = (
            "none: garbage-collect runs with the registry stopped (or read-only)"
        )
    results["sets"] = {"same_garbage": same_sets, "larger": _set_json(larger)}
    return results


def _set_json(images: ImageSet) -> dict[str, Any]:
    return {
        "shape": asdict(images.shape),
        "images": len(images.images),
        "deleted_images": len(images.doomed),
        "blobs": len(images.data),
        "bytes": images.total_bytes(),
        "garbage_blobs": len(images.garbage()),
        "garbage_bytes": images.garbage_bytes(),
        "description": images.describe(),
    }


def table(results: dict[str, Any]) -> str:
    """The printed summary (Markdown)."""
    same, larger, sets = results["same_garbage"], results["larger"], results["sets"]
    c, d = same.get("cargohold"), same.get("distribution")
    lc, ld = larger.get("cargohold"), larger.get("distribution")

    def secs(x: dict[str, Any] | None, key: str) -> str:
        return "-" if x is None else f"{x[key]['value']:.2f} s"

    def ratio(a: float | None, b: float | None) -> str:
        return "-" if not a or not b else f"{b / a:.2f}x"

    s = sets["same_garbage"][0]
    g = f"{s['deleted_images']} of {s['images']} images, ~{s['garbage_blobs']} blobs"
    rows = [
        [
            f"Collect ({g}), wall time of the command",
            secs(c, "collect_seconds"),
            secs(d, "collect_seconds"),
            ratio(c and c["collect_seconds"]["value"], d and d["collect_seconds"]["value"]),
        ],
        [
            "Registry down for it (distribution: stop, collect, start)",
            "0 s (online)" if c else "-",
            secs(d, "downtime_seconds"),
            "",
        ],
    ]
    if c:
        rows.append(["  of which collecting (`took`)", secs(c, "in_process_seconds"), "", ""])
    sl = sets["larger"]
    gl = f"{sl['deleted_images']} of {sl['images']} images, {sl['garbage_blobs']} blobs"
    if lc or ld:
        rows.append(
            [
                f"Collect ({gl})",
                f"{lc['gc']['seconds']:.2f} s ({lc['gc']['collect_seconds']} s collecting,"
                " under wrk load)"
                if lc
                else "-",
                f"{ld['seconds']:.2f} s (down {ld['downtime_seconds']:.2f} s)" if ld else "-",
                "",
            ]
        )
    if lc:
        rows += [
            ["Manifest GET, idle (mean of before and after)",
             f"{lc['idle_rps_mean']:,.0f} req/s", "n/a", ""],
            ["Manifest GET while collecting", f"{lc['during_gc']['rps']:,.0f} req/s",
             "n/a: stopped", ""],
            ["  while collecting ÷ idle", f"{lc['during_over_idle']:.2f}", "", ""],
        ]  # fmt: skip
    head = ["Figure", "Cargohold", "distribution", "Ratio (>1 = Cargohold better)"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(x.ljust(w) for x, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), sep, *(line(r) for r in rows)])
