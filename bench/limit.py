"""The limit column: nginx serving the same files with `sendfile`, to the same clients.

A registry cannot send a blob faster than the machine copies a file to a socket, so the
read figures (pull of the large layer, blob GETs) also run against nginx serving the very
files the servers were given, with `sendfile on` and a worker per core, no access log.
Each read figure then says how close to the machine a registry is, not only how it
compares with the other one.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.servers import Server

NAME = "limit"

NGINX_CONF = """\
worker_processes auto;
user root;
daemon off;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_body_temp_path {root}/client-body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {files};
        location = /v2/ {{ return 200 "{{}}"; }}
    }}
}}
"""


def available() -> bool:
    return shutil.which("nginx") is not None or Path("/usr/sbin/nginx").exists()


@dataclass
class FileServer(Server):
    """nginx serving ``data_dir/files``; a file is served at ``/NAME`` (see :meth:`serve`)."""

    @property
    def files(self) -> Path:
        return self.data_dir / "files"

    def command(self) -> tuple[list[str], dict[str, str]]:
        root = self.data_dir
        self.files.mkdir(parents=True, exist_ok=True)
        conf = root / "nginx.conf"
        conf.write_text(NGINX_CONF.format(root=root, port=self.port, files=self.files))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        return [nginx, "-p", str(root), "-c", str(conf)], self.env()

    def serve(self, path: Path, name: str) -> str:
        """Serve ``path`` (a hard link to it: the same inode, the same cached pages) as
        ``/name``; its URL."""
        link = self.files / name
        link.unlink(missing_ok=True)
        try:
            os.link(path, link)
        except OSError:
            shutil.copyfile(path, link)
        return f"{self.base}/{name}"


def start(work: Path) -> FileServer:
    server = FileServer(NAME, work / NAME / "data", program="nginx")
    server.start()
    server.version = "nginx (sendfile)"
    return server
