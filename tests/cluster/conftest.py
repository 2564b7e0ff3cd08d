"""Two `cargohold serve` nodes on PostgreSQL + SeaweedFS behind a real nginx (round robin,
no request buffering, no body size limit). Everything listens on 127.0.0.1; the SeaweedFS
here is this module's own, since the tests stop it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.backends import (
    PostgresServer,
    SeaweedFS,
    free_port,
    scale_out_environment,
    seaweedfs,
    stop_process,
    wait_for_port,
)

READY_TIMEOUT = 60.0

NGINX_CONF = """\
worker_processes 1;
user root;
daemon off;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {root}/nginx-access.log;
    client_body_temp_path {root}/client-body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream cargohold {{
        server 127.0.0.1:{node1};
        server 127.0.0.1:{node2};
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
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


@dataclass
class Node:
    name: str
    port: int
    env: dict[str, str]
    root: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / f"{self.name}.log"

    def start(self) -> None:
        data_dir = self.root / f"{self.name}-data"
        data_dir.mkdir(exist_ok=True)
        command = [
            sys.executable, "-m", "cargohold", "serve",
            "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(data_dir),
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: the server and its workers
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {READY_TIMEOUT} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """kill -9, the whole node at once (no chance to clean up)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                self.kill()
            self.process = None

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class Cluster:
    nodes: list[Node]
    store: SeaweedFS
    database_url: str
    env: dict[str, str]
    proxy_port: int
    nginx: subprocess.Popen[bytes] | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    def logs(self) -> str:
        parts = [f"--- {node.name} ---\n{node.log_tail()}" for node in self.nodes]
        return "\n".join(parts)


def _start_nginx(root: Path, port: int, nodes: list[Node]) -> subprocess.Popen[bytes]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx is not installed; scripts/install-deps installs it"
    conf = root / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(root=root, port=port, node1=nodes[0].port, node2=nodes[1].port)
    )
    process = subprocess.Popen(
        [nginx, "-p", str(root), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=(root / "nginx-stderr.log").open("wb"),
        stdin=subprocess.DEVNULL,
    )
    wait_for_port(port, 15, process)
    return process


@pytest.fixture(scope="module")
def cluster(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    stores = seaweedfs(root / "seaweedfs")
    store = next(stores)
    try:
        env = scale_out_environment(postgres_server, store, "cluster")
        env.update(
            {
                "CARGOHOLD_AUTH": "none",
                "CARGOHOLD_TRUST_PROXY_HEADERS": "true",
                "CARGOHOLD_ACCESS_LOG": "true",
                "CARGOHOLD_S3_PART_SIZE": str(5 * 1024 * 1024),
            }
        )
        nodes = [Node(f"node{i}", free_port(), env, root) for i in (1, 2)]
        cluster = Cluster(nodes, store, env["CARGOHOLD_DATABASE_URL"], env, free_port())
        try:
            for node in nodes:
                node.start()
            cluster.nginx = _start_nginx(root, cluster.proxy_port, nodes)
            yield cluster
        finally:
            if cluster.nginx is not None:
                stop_process(cluster.nginx)
            for node in nodes:
                node.stop()
    finally:
        stores.close()
