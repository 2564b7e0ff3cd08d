"""python -m bench.scale: does a read cost the same in a big registry as in a small one?

Measured on one live Cargohold (``--backend embedded``: SQLite + filesystem, ``cargohold
serve --auth none``, started as bench/servers.py starts it; ``--backend postgres-s3``: the
local PostgreSQL and a SeaweedFS started here, as ``python -m bench --scale-out`` uses them):

1. manifest GET by tag, and the first tags page (``/v2/NAME/tags/list?n=100``), in one
   package holding 10, 1,000, 10,000 and 100,000 tags (target: flat within 20%);
2. the first catalog page (``/v2/_catalog?n=100``) with 100, 1,000 and 10,000 packages
   (target: flat within 20%);
3. 50 clients pushing at once (each: a config and a layer of its own, then the manifest,
   for a few rounds): errors (target zero), "database is locked" in the server's log
   (target none), pushes per second.

Every measured request goes through HTTP, with wrk at 32 connections as figure 4 of
``python -m bench``. The data is seeded through the registry's API too, by concurrent
clients: tags are the same manifest put under many tags; packages each get the same image
(its blobs mounted from the first package, then the manifest put). Each rate is the median
of ``--rounds`` wrk runs, with their spread.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import client
from bench.data import OCI_MANIFEST, config_blob, image_manifest, sha256_bytes
from bench.servers import REPO_ROOT, Server, cpu_seconds

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_JSON = BENCH_DIR / "results" / "scale-latest.json"
BACKENDS = ("embedded", "postgres-s3")
TAG_REPO = "scale/tags"
PACKAGE_PREFIX = "scale/p"
PUSH_PREFIX = "scale/push"
CONNECTIONS = 32  # as figure 4 of python -m bench
PAGE = 100
TAG_LEVELS = (10, 1_000, 10_000, 100_000)
PACKAGE_LEVELS = (100, 1_000, 10_000)
QUICK_TAG_LEVELS = (10, 1_000, 10_000)
QUICK_PACKAGE_LEVELS = (100, 1_000)
PUSHERS = 50
PUSH_PACKAGES = 10  # the pushers share these packages, 5 to a package
PUSH_ROUNDS = 10
SEED_CLIENTS = 16
HTTP_TAGS = 1_000  # tag levels up to this are seeded through HTTP, larger ones directly
FLAT = 0.8  # flat: the largest level's rate is at least this share of the smallest's


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class HttpError(RuntimeError):
    pass


class Connections:
    """One keep-alive HTTP connection per thread to one server."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._local = threading.local()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        for attempt in (1, 2):
            if conn is None:
                conn = http.client.HTTPConnection(self.host, timeout=120)
                self._local.conn = conn
            try:
                conn.request(method, path, body=body, headers=headers or {})
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A keep-alive connection the server closed meanwhile: once more, on a new one.
                conn.close()
                conn = self._local.conn = None
                if attempt == 2:
                    raise
                continue
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        raise AssertionError("unreachable")

    def expect(
        self, method: str, path: str, want: int, body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, str]:  # fmt: skip
        status, got, data = self.request(method, path, body, headers)
        if status != want:
            raise HttpError(f"{method} {path}: HTTP {status}: {data[:300]!r}")
        return got


def _local_path(location: str) -> str:
    parts = urllib.parse.urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def push_blob(api: Connections, repo: str, data: bytes, digest: str) -> None:
    """POST, then PUT ?digest= with the bytes (a monolithic upload)."""
    headers = api.expect("POST", f"/v2/{repo}/blobs/uploads/", 202)
    url = client.with_digest(_local_path(headers["location"]), digest)
    octets = {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}
    api.expect("PUT", url, 201, data, octets)


def mount_blob(api: Connections, repo: str, digest: str, source: str) -> None:
    query = urllib.parse.urlencode({"mount": digest, "from": source})
    api.expect("POST", f"/v2/{repo}/blobs/uploads/?{query}", 201)


def put_manifest(api: Connections, repo: str, ref: str, manifest: bytes) -> None:
    api.expect("PUT", f"/v2/{repo}/manifests/{ref}", 201, manifest, {"Content-Type": OCI_MANIFEST})


@dataclass(frozen=True)
class Image:
    config: bytes
    layer: bytes
    manifest: bytes

    @classmethod
    def make(cls, rng: random.Random, layer_size: int = 1024) -> Image:
        layer = rng.randbytes(layer_size)
        config = config_blob([sha256_bytes(layer)])
        manifest = image_manifest(config, [(sha256_bytes(layer), len(layer))])
        return cls(config, layer, manifest)

    def push(self, api: Connections, repo: str, tag: str) -> None:
        push_blob(api, repo, self.config, sha256_bytes(self.config))
        push_blob(api, repo, self.layer, sha256_bytes(self.layer))
        put_manifest(api, repo, tag, self.manifest)


def tag_name(i: int) -> str:
    return f"t{i:07d}"


ANALYZED = ("tags", "packages", "manifests", "package_blobs")


def analyze(server: Server) -> bool:
    """On PostgreSQL, ANALYZE the tables seeded, as autovacuum does after a change of more
    than a tenth of a table (the local server runs with autovacuum off). Without it the
    planner keeps the plans it made for the prepared statements of each pooled connection
    while the tables were nearly empty, which scan all of ``tags`` to find one (see
    docs/benchmarks.md, "Scale"). False on SQLite, which needs none."""
    url = server.extra_env.get("CARGOHOLD_DATABASE_URL", "")
    if not url.startswith(("postgresql", "postgres")):
        return False
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute("ANALYZE " + ", ".join(ANALYZED))
        finally:
            await conn.close()

    asyncio.run(run())
    return True


def direct_tags(server: Server, repo: str, template: str, names: list[str]) -> None:
    """Put the manifest that tag ``template`` of ``repo`` names under ``names`` too, by
    writing the rows straight into the server's database, as a manifest PUT of each would
    (a tag row naming the package's manifest; the push events are left out, as nothing
    measured here reads them). The server sees them at once: it caches nothing on
    PostgreSQL, and on SQLite any commit by another process empties its read cache."""
    url = server.extra_env.get("CARGOHOLD_DATABASE_URL", "")
    find = (
        "SELECT t.package_id, t.manifest_id, t.updated_at, t.pushed_by FROM tags t"
        " JOIN packages p ON p.id = t.package_id WHERE p.name = {0} AND t.name = {1}"
    )
    if url.startswith(("postgresql", "postgres")):
        import asyncio

        import asyncpg

        async def write() -> None:
            conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
            try:
                row = await conn.fetchrow(find.format("$1", "$2"), repo, template)
                if row is None:
                    raise client.BenchError(f"{repo}:{template} not found")
                records = [(row[0], name, row[1], row[2], row[3]) for name in names]
                await conn.copy_records_to_table(
                    "tags",
                    records=records,
                    columns=["package_id", "name", "manifest_id", "updated_at", "pushed_by"],
                )
            finally:
                await conn.close()

        asyncio.run(write())
        return
    with closing(sqlite3.connect(server.data_dir / "cargohold.db", timeout=60)) as db:
        row = db.execute(find.format("?", "?"), (repo, template)).fetchone()
        if row is None:
            raise client.BenchError(f"{repo}:{template} not found")
        with db:
            db.executemany(
                "INSERT INTO tags (package_id, name, manifest_id, updated_at, pushed_by)"
                " VALUES (?, ?, ?, ?, ?)",
                [(row[0], name, row[1], row[2], row[3]) for name in names],
            )


def in_parallel(count: int, clients: int, job: Callable[[int], None]) -> float:
    """Run ``job(i)`` for i in range(count) on ``clients`` threads; the seconds it took."""
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for _ in pool.map(job, range(count)):
            pass
    return time.perf_counter() - start


@dataclass
class Rate:
    """The wrk runs of one request at one level."""

    rps: list[float]
    p99_ms: list[float]
    cpu_us: list[float] = field(default_factory=list)  # the server's CPU per request
    non_2xx: int = 0
    socket_errors: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.rps)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_us)

    def as_json(self) -> dict[str, Any]:
        return {
            "rps_median": round(self.median, 1),
            "rps": [round(r, 1) for r in self.rps],
            "p99_ms": [round(p, 2) for p in self.p99_ms],
            "cpu_us_median": round(self.cpu_median, 1),
            "cpu_us": [round(c, 1) for c in self.cpu_us],
            "non_2xx": self.non_2xx,
            "socket_errors": self.socket_errors,
        }


@dataclass
class Settings:
    rounds: int
    duration: float
    warmup: float


def measure(
    settings: Settings,
    server: Server,
    label: str,
    url: str,
    headers: dict[str, str] | None = None,
) -> Rate:
    """A warm-up, then ``settings.rounds`` wrk runs; any non-2xx answer fails the bench.
    Beside the rate, the server's CPU time per request (its process tree's, read from
    /proc around each run): on a busy machine it moves much less than the rate does."""
    assert server.proc is not None
    client.wrk(url, connections=CONNECTIONS, duration=settings.warmup, headers=headers)
    rate = Rate([], [])
    for _ in range(settings.rounds):
        cpu = cpu_seconds(server.proc.pid)
        r = client.wrk(
            url, connections=CONNECTIONS, duration=settings.duration, headers=headers, timeout=30
        )
        rate.cpu_us.append((cpu_seconds(server.proc.pid) - cpu) / max(r.requests, 1) * 1e6)
        if r.non_2xx or r.socket_errors:
            raise client.BenchError(
                f"{label}: {r.non_2xx} non-2xx, {r.socket_errors} socket errors of {r.requests}"
            )
        rate.rps.append(r.rps)
        rate.p99_ms.append(r.p99_ms)
    spread = f"{min(rate.rps):,.0f}-{max(rate.rps):,.0f}"
    log(
        f"  {label}: {rate.median:,.0f} req/s ({spread}), p99 {max(rate.p99_ms):.1f} ms,"
        f" server CPU {rate.cpu_median:,.0f} us a request"
    )
    return rate


def check_page(api: Connections, path: str, key: str, want: int) -> None:
    """The page answers 200 with ``want`` entries (so that wrk measures a real page)."""
    status, _, body = api.request("GET", path)
    if status != 200:
        raise HttpError(f"GET {path}: HTTP {status}: {body[:300]!r}")
    got = len(json.loads(body)[key])
    if got != want:
        raise HttpError(f"GET {path}: {got} entries, expected {want}")


def tags_scale(
    server: Server,
    api: Connections,
    settings: Settings,
    levels: tuple[int, ...],
    seed: int,
    http_tags: int,
    analyzing: bool,
) -> dict[str, Any]:
    """Figure 1: one package grown to each level of tags; at each, manifest GET by tag and
    the first tags page. Levels up to ``http_tags`` are put through HTTP, larger ones
    straight into the database (:func:`direct_tags`)."""
    image = Image.make(random.Random(seed))
    image.push(api, TAG_REPO, tag_name(0))
    digest = sha256_bytes(image.manifest)
    have = 1
    out: dict[str, Any] = {"levels": list(levels), "manifest_get": {}, "tags_page": {}}
    seeding: dict[str, float] = {}
    for level in levels:
        if level > have:
            start = have

            def put(i: int, start: int = start) -> None:
                put_manifest(api, TAG_REPO, tag_name(start + i), image.manifest)

            how = "through HTTP"
            if level <= http_tags:
                seconds = in_parallel(level - have, SEED_CLIENTS, put)
            else:
                how = "straight into the database"
                began = time.perf_counter()
                direct_tags(
                    server, TAG_REPO, tag_name(0), [tag_name(i) for i in range(have, level)]
                )
                seconds = time.perf_counter() - began
            log(f"  seeded tags {have:,} -> {level:,} {how} in {seconds:.1f} s"
                f" ({(level - have) / seconds:,.0f} tags/s)")  # fmt: skip
            seeding[str(level)] = round(seconds, 1)
            have = level
            if analyzing and analyze(server):
                log("  ANALYZE")
        page = f"/v2/{TAG_REPO}/tags/list?n={PAGE}"
        check_page(api, page, "tags", min(PAGE, level))
        # The tag asked for is the last one put: at the far end of the index.
        ref = f"/v2/{TAG_REPO}/manifests/{tag_name(level - 1)}"
        status, headers, body = api.request("GET", ref, headers={"Accept": OCI_MANIFEST})
        if status != 200 or headers.get("docker-content-digest") != digest:
            raise HttpError(f"GET {ref}: HTTP {status}: {body[:200]!r}")
        out["manifest_get"][str(level)] = measure(
            settings,
            server,
            f"manifest GET, {level:,} tags",
            server.base + ref,
            {"Accept": OCI_MANIFEST},
        ).as_json()
        out["tags_page"][str(level)] = measure(
            settings, server, f"tags page, {level:,} tags", server.base + page
        ).as_json()
    out["seed_seconds"] = seeding
    return out


def catalog_scale(
    server: Server,
    api: Connections,
    settings: Settings,
    levels: tuple[int, ...],
    seed: int,
    analyzing: bool,
) -> dict[str, Any]:
    """Figure 2: the registry grown to each level of packages; at each, the first catalog
    page. The packages of figure 1 and the pushers' come after these in name order."""
    image = Image.make(random.Random(seed + 1))
    first = f"{PACKAGE_PREFIX}{0:05d}"
    image.push(api, first, "v1")
    config, layer = sha256_bytes(image.config), sha256_bytes(image.layer)
    have = 1
    out: dict[str, Any] = {"levels": list(levels), "catalog_page": {}}
    seeding: dict[str, float] = {}
    for level in levels:
        if level > have:
            start = have

            def create(i: int, start: int = start) -> None:
                name = f"{PACKAGE_PREFIX}{start + i:05d}"
                mount_blob(api, name, config, first)
                mount_blob(api, name, layer, first)
                put_manifest(api, name, "v1", image.manifest)

            seconds = in_parallel(level - have, SEED_CLIENTS, create)
            log(f"  seeded packages {have:,} -> {level:,} in {seconds:.1f} s"
                f" ({(level - have) / seconds:,.0f} packages/s)")  # fmt: skip
            seeding[str(level)] = round(seconds, 1)
            have = level
            if analyzing and analyze(server):
                log("  ANALYZE")
        page = f"/v2/_catalog?n={PAGE}"
        check_page(api, page, "repositories", PAGE)
        out["catalog_page"][str(level)] = measure(
            settings, server, f"catalog page, {level:,} packages", server.base + page
        ).as_json()
    out["seed_seconds"] = seeding
    return out


def concurrent_pushes(
    server: Server, rounds: int, seed: int, log_text: Callable[[], str]
) -> dict[str, Any]:
    """Figure 3: PUSHERS clients released at once, each pushing ``rounds`` images of its
    own (a config and a 4 KiB layer nobody else has, then the manifest under a tag of its
    own) into one of PUSH_PACKAGES packages; every push read back afterwards."""
    api = Connections(server.host)
    barrier = threading.Barrier(PUSHERS)
    errors: list[str] = []
    lock = threading.Lock()
    pushed: list[tuple[str, str, str]] = []

    def pusher(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        repo = f"{PUSH_PREFIX}{k % PUSH_PACKAGES:02d}"
        barrier.wait(timeout=60)
        for r in range(rounds):
            image = Image.make(rng, 4096)
            tag = f"c{k:02d}-r{r}"
            try:
                image.push(api, repo, tag)
            except (HttpError, OSError, http.client.HTTPException) as exc:
                with lock:
                    errors.append(f"{repo}:{tag}: {exc}")
                continue
            with lock:
                pushed.append((repo, tag, sha256_bytes(image.manifest)))

    start = time.perf_counter()
    with ThreadPoolExecutor(PUSHERS) as pool:
        for _ in pool.map(pusher, range(PUSHERS)):
            pass
    seconds = time.perf_counter() - start
    reader = Connections(server.host)
    missing = 0
    for repo, tag, digest in pushed:
        status, headers, _ = reader.request(
            "GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}
        )
        if status != 200 or headers.get("docker-content-digest") != digest:
            missing += 1
    text = log_text()
    locked = text.count("database is locked")
    tracebacks = text.count("Traceback")
    pushes = len(pushed)
    log(f"  {PUSHERS} clients x {rounds} rounds: {pushes} pushes in {seconds:.1f} s"
        f" ({pushes / seconds:.1f} pushes/s), {len(errors)} errors, {missing} not read back,"
        f" 'database is locked' {locked} times, {tracebacks} tracebacks in the log")  # fmt: skip
    for error in errors[:5]:
        log(f"    {error}")
    return {
        "clients": PUSHERS,
        "rounds": rounds,
        "packages": PUSH_PACKAGES,
        "pushes": pushes,
        "seconds": round(seconds, 2),
        "pushes_per_s": round(pushes / seconds, 1),
        "requests_per_push": 5,
        "errors": len(errors),
        "error_samples": errors[:5],
        "not_read_back": missing,
        "database_is_locked": locked,
        "tracebacks": tracebacks,
    }


@dataclass
class Deployment:
    server: Server
    logs: list[Path] = field(default_factory=list)

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs if p.exists())


@contextmanager
def deployment(backend: str, work: Path, workers: int | None) -> Iterator[Deployment]:
    """The server to measure, started, and stopped (with what it needed) afterwards."""
    with ExitStack() as stack:
        extra: dict[str, str] = {}
        if backend == "postgres-s3":
            if str(REPO_ROOT) not in sys.path:
                sys.path.insert(0, str(REPO_ROOT))
            from tests.backends import PostgresServer, SeaweedFS, scale_out_environment

            postgres = PostgresServer.connect()
            stack.callback(postgres.drop_all)
            store = SeaweedFS(work / "seaweedfs", bucket="cargohold-bench")
            log("starting SeaweedFS")
            store.start()
            stack.callback(store.stop)
            env = scale_out_environment(postgres, store, "bench_scale")
            extra = {k: v for k, v in env.items() if k.startswith("CARGOHOLD_")}
        server = Server(
            f"cargohold-{backend}", work / "cargohold" / "data", workers,
            program="cargohold", extra_env=extra,
        )  # fmt: skip
        log(f"starting {server.name} on {server.host}")
        stack.callback(server.stop)
        server.start()
        assert server.log_path is not None
        try:
            yield Deployment(server, [server.log_path])
        except Exception:
            log(f"{server.name} log tail:\n{server.log(2000)}")
            raise


def _ratio(series: dict[str, dict[str, Any]], levels: list[int]) -> float:
    first, last = series[str(levels[0])], series[str(levels[-1])]
    return float(last["rps_median"]) / float(first["rps_median"])


def _cpu_ratio(series: dict[str, dict[str, Any]], levels: list[int]) -> float:
    """The smallest level's CPU per request over the largest's (above 1: cheaper there)."""
    first, last = series[str(levels[0])], series[str(levels[-1])]
    return float(first["cpu_us_median"]) / float(last["cpu_us_median"])


def _verdict(series: dict[str, dict[str, Any]], levels: list[int]) -> str:
    rate, cpu = _ratio(series, levels), _cpu_ratio(series, levels)

    def flat(x: float) -> str:
        return "flat" if x >= FLAT else "NOT flat"

    span = f"{levels[-1]:,} / {levels[0]:,}"
    return f"{span}: rate {rate:.2f}x ({flat(rate)}), CPU {cpu:.2f}x ({flat(cpu)})"


def table(results: dict[str, Any]) -> str:
    """The figures as a Markdown table: median req/s and the spread of the wrk runs, p99,
    the server's CPU per request; then whether each is flat."""
    head = ["level", "req/s (median)", "runs (min-max)", "p99 ms", "server CPU us/req"]
    lines = [
        "| figure | " + " | ".join(head) + " |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    rows: list[tuple[str, str, dict[str, dict[str, Any]], list[int]]] = []
    tags, catalog = results.get("tags"), results.get("catalog")
    if tags:
        rows.append(("manifest GET by tag", "tags", tags["manifest_get"], tags["levels"]))
        rows.append(("tags page (n=100)", "tags", tags["tags_page"], tags["levels"]))
    if catalog:
        rows.append(("catalog page (n=100)", "packages", catalog["catalog_page"],
                     catalog["levels"]))  # fmt: skip
    verdicts = []
    for title, unit, series, levels in rows:
        for level in levels:
            m = series[str(level)]
            lines.append(
                f"| {title} | {level:,} {unit} | {m['rps_median']:,.0f} |"
                f" {min(m['rps']):,.0f}-{max(m['rps']):,.0f} | {max(m['p99_ms']):.1f} |"
                f" {m['cpu_us_median']:,.0f} |"
            )
        line = f"{title} ({unit}): {_verdict(series, levels)}"
        full = [level for level in levels if level >= PAGE]
        if unit == "tags" and "page" in title and len(full) > 1 and full[0] != levels[0]:
            # Below PAGE tags the page is shorter: compare from the first full page too.
            line += f"; full pages {_verdict(series, full)}"
        verdicts.append(line)
    push = results.get("pushes")
    if push:
        verdicts.append(
            f"{push['clients']} clients pushing: {push['pushes']} pushes,"
            f" {push['pushes_per_s']} pushes/s, {push['errors']} errors,"
            f" 'database is locked' {push['database_is_locked']}"
        )
    return "\n".join([*lines, "", *verdicts])


def command_line(argv: list[str]) -> str:
    """The command as run, without the output path (no paths of this machine in results)."""
    kept: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--json" or arg.startswith("--json=") or (i and argv[i - 1] == "--json"):
            continue
        kept.append(arg)
    return " ".join(["python -m bench.scale", *kept])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=BACKENDS, default="embedded")
    p.add_argument(
        "--quick", action="store_true",
        help="iteration mode: up to 10,000 tags and 1,000 packages, 1 wrk run of 2 s per point",
    )  # fmt: skip
    p.add_argument("--duration", type=float, help="seconds per wrk run (default 5; quick 2)")
    p.add_argument("--rounds", type=int, help="wrk runs per point, median kept (default 3)")
    p.add_argument("--workers", type=int, help="pass --workers N to cargohold serve")
    p.add_argument("--push-rounds", type=int, default=PUSH_ROUNDS, help="rounds per pusher")
    p.add_argument("--skip", choices=("tags", "catalog", "pushes"), action="append", default=[])
    p.add_argument(
        "--http-tags", type=int, default=HTTP_TAGS,
        help=f"tags put through HTTP; above, straight into the database (default {HTTP_TAGS:,})",
    )  # fmt: skip
    p.add_argument(
        "--no-analyze", action="store_true",
        help="postgres-s3: do not ANALYZE the tables after seeding each level",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", type=Path, help=f"default {DEFAULT_JSON.relative_to(REPO_ROOT)}")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings(
        rounds=args.rounds or (1 if args.quick else 3),
        duration=args.duration or (2.0 if args.quick else 5.0),
        warmup=1.0,
    )
    tag_levels = QUICK_TAG_LEVELS if args.quick else TAG_LEVELS
    package_levels = QUICK_PACKAGE_LEVELS if args.quick else PACKAGE_LEVELS
    load = os.getloadavg()
    if load[0] > 1.0:
        log(f"note: load average {load[0]:.1f} at start; other work skews the figures")
    work = Path(tempfile.mkdtemp(prefix="cargohold-bench-scale-"))
    started = time.monotonic()
    results: dict[str, Any] = {}
    try:
        with deployment(args.backend, work, args.workers) as dep:
            api = Connections(dep.server.host)
            if "tags" not in args.skip:
                log("1. manifest GET and the tags page, by tags in one package")
                results["tags"] = tags_scale(
                    dep.server,
                    api,
                    settings,
                    tag_levels,
                    args.seed,
                    args.http_tags,
                    not args.no_analyze,
                )
            if "catalog" not in args.skip:
                log("2. the catalog page, by packages")
                results["catalog"] = catalog_scale(
                    dep.server, api, settings, package_levels, args.seed, not args.no_analyze
                )
            if "pushes" not in args.skip:
                log(f"3. {PUSHERS} clients pushing at once")
                results["pushes"] = concurrent_pushes(
                    dep.server, args.push_rounds, args.seed, dep.log_text
                )
            version = dep.server.version
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - started
    print(table(results))
    meta = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command_line(argv if argv is not None else sys.argv[1:]),
        "backend": args.backend,
        "server": version,
        "cpus": os.cpu_count(),
        "connections": CONNECTIONS,
        "rounds": settings.rounds,
        "duration_s": settings.duration,
        "workers": args.workers,
        "analyze_after_seeding": args.backend == "postgres-s3" and not args.no_analyze,
        "http_tags": args.http_tags,
        "loadavg_at_start": [round(x, 2) for x in load],
        "elapsed_s": round(elapsed, 1),
    }
    out = args.json or DEFAULT_JSON
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, **results}, indent=2) + "\n")
    log(f"wrote {out}; done in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
