"""nginx as a bench server: the configuration every bench nginx shares (its own pid, logs
and temp folders under its data directory, no access log), and its command line. Each
kind of nginx (bench/limit.py, bench/accel.py, bench/scaleout.py) writes only what goes
inside its `http` block."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.servers import Server

_TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def available() -> bool:
    return Path(binary()).exists()


def config(root: Path, http: str, workers: str = "auto") -> str:
    """A whole nginx.conf in the foreground, everything it writes under ``root``, with
    ``http`` (directives, indented by four) inside its `http` block."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "".join(f"    {kind}_temp_path {root}/{kind}-temp;\n" for kind in _TEMP_PATHS)
    return (
        f"worker_processes {workers};\n"
        f"{user}daemon off;\n"
        f"pid {root}/nginx.pid;\n"
        f"error_log {root}/nginx-error.log warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        "    access_log off;\n"
        f"{temp}{http}"
        "}\n"
    )


@dataclass
class Nginx(Server):
    """A bench server run by nginx; subclasses give the inside of its `http` block."""

    nginx_workers: str = "auto"

    def http_block(self) -> str:
        raise NotImplementedError

    def command(self) -> tuple[list[str], dict[str, str]]:
        root = self.data_dir
        conf = root / "nginx.conf"
        conf.write_text(config(root, self.http_block(), self.nginx_workers))
        return [binary(), "-p", str(root), "-c", str(conf)], self.env()
