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

from bench import nginx

NAME = "limit"

HTTP = """\
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {files};
        location = /v2/ {{ return 200 "{{}}"; }}
    }}
"""


@dataclass
class FileServer(nginx.Nginx):
    """nginx serving ``data_dir/files``; a file is served at ``/NAME`` (see :meth:`serve`)."""

    @property
    def files(self) -> Path:
        return self.data_dir / "files"

    def http_block(self) -> str:
        self.files.mkdir(parents=True, exist_ok=True)
        return HTTP.format(port=self.port, files=self.files)

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
