"""python -m bench: run Cargohold and distribution side by side and compare them."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import accel, auth, chart, gc, limit, metrics_cost, nginx, report, scaleout
from bench import figures as fig
from bench.figures import Context
from bench.servers import REPO_ROOT, SERVER_NAMES, Server, cargohold_available, server_version

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_JSON = BENCH_DIR / "results" / "latest.json"
DEFAULT_GC_JSON = BENCH_DIR / "results" / "gc-latest.json"
DEFAULT_SVG = REPO_ROOT / "docs" / "benchmarks.svg"

FIGURES: list[Callable[[Context], None]] = [
    fig.push_big,
    fig.pull_big,
    fig.push_small,
    fig.manifest_rps,
    fig.blob_get,
    fig.manifest_p99_under_push,
    auth.bearer_manifest_rps,  # Cargohold only, on a second Cargohold with accounts
    metrics_cost.metrics_manifest_rps,  # Cargohold only: two more, metrics off and on
    fig.peak_rss,
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--size-mib", type=int, default=1024, help="large layer size (default 1024)")
    p.add_argument("--only", choices=SERVER_NAMES, help="run a single server")
    p.add_argument("--duration", type=float, default=10, help="seconds per wrk run (default 10)")
    p.add_argument("--repeat", type=int, default=3, help="runs of figures 1-3; median kept")
    p.add_argument("--wrk-rounds", type=int, default=2, help="wrk runs per server (median)")
    p.add_argument("--workers", type=int, help="pass --workers N to cargohold serve")
    p.add_argument("--small-layers", type=int, default=200, help="layers in figure 3")
    p.add_argument("--seed", type=int, help="data seed (default: random, new digests each run)")
    p.add_argument(
        "--json",
        type=Path,
        help=f"where to write results (default {DEFAULT_JSON.relative_to(REPO_ROOT)},"
        f" with --gc {DEFAULT_GC_JSON.relative_to(REPO_ROOT)})",
    )
    p.add_argument(
        "--svg", type=Path, default=DEFAULT_SVG, help="chart to write (only when both run)"
    )
    p.add_argument(
        "--no-drop-caches",
        action="store_true",
        help="do not empty the page cache before each large push (needs root)",
    )
    p.add_argument(
        "--scale-out",
        action="store_true",
        help="also run figures 1, 2, 4, 5 on PostgreSQL + S3 (SeaweedFS): one node, and two"
        " nodes behind nginx (needs PostgreSQL on 127.0.0.1:5432, weed, nginx)",
    )
    p.add_argument(
        "--gc",
        action="store_true",
        help="instead of the default figures, garbage collection: the same garbage collected"
        " by both (Cargohold online, distribution offline), and Cargohold's manifest GETs"
        " while it collects (see bench/gc.py)",
    )
    p.add_argument(
        "--scale",
        action="store_true",
        help="instead of the default figures, the scale figures on the embedded Cargohold"
        " (tags, catalog, 50 pushers; python -m bench.scale has the options)",
    )
    p.add_argument("--gc-rounds", type=int, default=3, help="--gc: rounds of part 1 (median)")
    p.add_argument("--gc-images", type=int, default=200, help="--gc: images pushed in part 1")
    p.add_argument(
        "--gc-larger-images", type=int, default=800, help="--gc: images pushed in part 2"
    )
    p.add_argument(
        "--no-limit",
        action="store_true",
        help="do not measure the limit column (nginx serving the same files with sendfile)",
    )
    p.add_argument(
        "--no-accel",
        action="store_true",
        help="do not measure Cargohold behind nginx with X-Accel-Redirect (figures 2 and 5)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return p.parse_args(argv)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _tool_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0].strip() if text else "?"


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(
                line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(mem_gib, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "curl": _tool_version(["curl", "--version"]),
        "wrk": _tool_version(["wrk", "-v"]),
        "skopeo": _tool_version(["skopeo", "--version"]),
    }


def cpu_times() -> list[int]:
    """The aggregate ``cpu`` line of /proc/stat (user nice system idle iowait irq softirq
    steal ...), in clock ticks."""
    with open("/proc/stat") as fh:
        return [int(x) for x in fh.readline().split()[1:]]


def steal_percent(before: list[int], after: list[int]) -> float:
    delta = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(delta[:8]) or 1
    return round(100 * delta[7] / total, 1)


def command_line(argv: list[str]) -> str:
    """The command as run, without the output paths (no paths of this machine in results)."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--json", "--svg"):
            skip = True
            continue
        if not arg.startswith(("--json=", "--svg=")):
            kept.append(arg)
    return " ".join(["python -m bench", *kept])


def size_label(size_mib: int) -> str:
    return f"{size_mib // 1024} GiB" if size_mib % 1024 == 0 else f"{size_mib} MiB"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.scale:
        from bench import scale

        return scale.main(["--json", str(args.json)] if args.json else [])
    names = [args.only] if args.only else list(SERVER_NAMES)
    if "cargohold" in names and not cargohold_available():
        log("`python -m cargohold serve --help` fails here; try --only distribution")
        return 2
    if args.gc:
        if args.scale_out:
            log("--gc and --scale-out are separate runs")
            return 2
        return run_gc(args, names, argv)
    if args.scale_out and "cargohold" not in names:
        log("--scale-out compares with the embedded Cargohold; drop --only distribution")
        return 2
    load_before = os.getloadavg()
    if load_before[0] > 1.0:
        log(f"note: load average {load_before[0]:.1f} at start; other work skews the figures")
    cpu_before = cpu_times()
    seed = args.seed if args.seed is not None else secrets.randbelow(1 << 31)
    work = Path(tempfile.mkdtemp(prefix="cargohold-bench-"))
    servers = [Server(name, work / name / "data", workers=args.workers) for name in names]
    started = time.monotonic()
    idle: dict[str, float] = {}
    scale_out: dict[str, str] = {}
    limit_server: limit.FileServer | None = None
    accel_server: accel.AccelFront | None = None
    try:
        for server in servers:
            log(f"starting {server.name} on {server.host}")
            server.start()
            time.sleep(0.5)
            assert server.sampler is not None
            idle[server.name] = round(server.sampler.sample().rss_kib / 1024, 1)
        if not args.no_limit and nginx.available():
            log("starting nginx (sendfile) for the limit column")
            limit_server = limit.start(work)
        if not args.no_accel and accel.available(names):
            log("starting Cargohold behind nginx with X-Accel-Redirect for the accel rows")
            cargohold = next(s for s in servers if s.name == "cargohold")
            accel_server = accel.start(work, cargohold)
        ctx = Context(
            servers=servers,
            work=work,
            size=args.size_mib << 20,
            repeat=args.repeat,
            duration=args.duration,
            small_layers=args.small_layers,
            seed=seed,
            wrk_rounds=args.wrk_rounds,
            drop_caches=not args.no_drop_caches,
            log=log,
            limit=limit_server,
            accel=accel_server,
        )
        for figure in FIGURES:
            log((figure.__doc__ or figure.__name__).strip().splitlines()[0])
            figure(ctx)
        if args.scale_out:
            scale_out = scaleout.run(ctx, args.workers)
    except Exception:
        for server in servers:
            tail = server.log(1500)
            if tail:
                log(f"{server.name} log tail:\n{tail}")
        raise
    finally:
        for server in servers:
            server.stop()
        if limit_server is not None:
            limit_server.stop()
        if accel_server is not None:
            accel_server.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - started
    steal = steal_percent(cpu_before, cpu_times())

    all_rows = report.rows(ctx.results, report.specs(size_label(args.size_mib), args.small_layers))
    print(report.table(all_rows))
    if scale_out:
        print()
        print(scaleout.table(ctx.results, size_label(args.size_mib), list(scale_out)))
    hw = machine()
    meta: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command_line(argv if argv is not None else sys.argv[1:]),
        "servers": {s.name: s.version for s in servers},
        "limit": None if limit_server is None else limit_server.version,
        "accel": None if accel_server is None else accel_server.version,
        "cargohold_tree": _tool_version(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"]
        ),
        "machine": hw,
        "options": {
            "size_mib": args.size_mib,
            "repeat": args.repeat,
            "duration_s": args.duration,
            "small_layers": args.small_layers,
            "seed": seed,
            "wrk_rounds": args.wrk_rounds,
            "cargohold_workers": args.workers,
            "drop_caches": ctx.drop_caches,
        },
        "idle_rss_mib": idle,
        "elapsed_s": round(elapsed, 1),
        "loadavg_at_start": [round(x, 2) for x in load_before],
        "cpu_steal_percent": steal,
    }
    data = report.to_json(all_rows, meta)
    if scale_out:
        meta["scale_out"] = scale_out
        data["scale_out"] = scaleout.to_json(ctx.results, list(scale_out))
    out = args.json or DEFAULT_JSON
    report.write_json(out, data)
    log(f"wrote {out}")
    if len(servers) == 2:
        versions = " vs ".join(s.version for s in servers)
        svg = chart.render(
            all_rows,
            "Cargohold / distribution: ratio per figure (> 1 = Cargohold better)",
            f"{versions}; {hw['cpus']} cores; python -m bench",
        )
        args.svg.parent.mkdir(parents=True, exist_ok=True)
        args.svg.write_text(svg)
        log(f"wrote {args.svg}")
    log(f"done in {elapsed:.0f} s")
    return 0


def run_gc(args: argparse.Namespace, names: list[str], argv: list[str] | None) -> int:
    """python -m bench --gc (bench/gc.py)."""
    load_before = os.getloadavg()
    if load_before[0] > 1.0:
        log(f"note: load average {load_before[0]:.1f} at start; other work skews the figures")
    cpu_before = cpu_times()
    seed = args.seed if args.seed is not None else secrets.randbelow(1 << 31)
    work = Path(tempfile.mkdtemp(prefix="cargohold-bench-gc-"))
    started = time.monotonic()
    ctx = gc.GcContext(
        names=names,
        work=work,
        rounds=args.gc_rounds,
        images=args.gc_images,
        larger_images=args.gc_larger_images,
        duration=args.duration,
        workers=args.workers,
        seed=seed,
        log=log,
    )
    try:
        results = gc.run(ctx)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - started
    print(gc.table(results))
    env = Server("cargohold", work).env()
    meta: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command_line(argv if argv is not None else sys.argv[1:]),
        "servers": {name: server_version(name, env) for name in names},
        "cargohold_tree": _tool_version(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"]
        ),
        "machine": machine(),
        "options": {
            "rounds": args.gc_rounds,
            "images": args.gc_images,
            "larger_images": args.gc_larger_images,
            "duration_s": args.duration,
            "seed": seed,
            "cargohold_workers": args.workers,
        },
        "elapsed_s": round(elapsed, 1),
        "loadavg_at_start": [round(x, 2) for x in load_before],
        "cpu_steal_percent": steal_percent(cpu_before, cpu_times()),
    }
    out = args.json or DEFAULT_GC_JSON
    report.write_json(out, {"meta": meta, **results})
    log(f"wrote {out}")
    log(f"done in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
