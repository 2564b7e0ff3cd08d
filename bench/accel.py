"""The accel rows: Cargohold behind nginx, which sends the blob files (X-Accel-Redirect).

A second Cargohold on the first one's data directory (the same database and blob files),
with `CARGOHOLD_BLOB_ACCEL_REDIRECT` set, behind nginx configured as docs/deploy.md's
site (without TLS, like every other server here): `proxy_pass` to Cargohold for
everything, and an `internal` location over the store's folder with `sendfile on`. The
read figures (pull of the large layer, blob GETs) then also run through that nginx, so
a blob GET costs Cargohold its checks and an empty answer, and nginx the copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench import nginx
from bench.servers import Server

NAME = "accel"
PREFIX = "/_cargohold_blobs/"

HTTP = """\
    upstream cargohold {{
        server 127.0.0.1:{upstream};
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        proxy_http_version 1.1;
        location / {{
            proxy_pass http://cargohold;
            proxy_set_header Host $http_host;
            proxy_set_header Connection "";
        }}
        location {prefix} {{
            internal;
            alias {store}/;
            sendfile on;
            tcp_nopush on;
            max_ranges 1;
            etag off;
            add_header Docker-Content-Digest $upstream_http_docker_content_digest;
            add_header ETag $upstream_http_etag;
            add_header Docker-Distribution-Api-Version
                $upstream_http_docker_distribution_api_version;
            add_header X-Request-ID $upstream_http_x_request_id;
        }}
    }}
"""


def available(names: list[str]) -> bool:
    return "cargohold" in names and nginx.available()


@dataclass
class AccelFront(nginx.Nginx):
    """nginx in front of ``inner``, a Cargohold with `blob_accel_redirect`; the figures
    measure this (its URLs are nginx's), and :meth:`stop` stops both."""

    inner: Server | None = None
    store: Path = field(default_factory=Path)

    def http_block(self) -> str:
        assert self.inner is not None
        return HTTP.format(
            port=self.port, upstream=self.inner.port, prefix=PREFIX, store=self.store
        )

    def stop(self) -> None:
        super().stop()
        if self.inner is not None:
            self.inner.stop()


def start(work: Path, cargohold: Server) -> AccelFront:
    """Start the second Cargohold on ``cargohold``'s data directory, then nginx in front."""
    inner = Server(
        "cargohold-accel",
        cargohold.data_dir,
        workers=cargohold.workers,
        extra_env={**cargohold.extra_env, "CARGOHOLD_BLOB_ACCEL_REDIRECT": PREFIX},
        program="cargohold",
    )
    inner.start()
    front = AccelFront(
        NAME,
        work / NAME / "nginx",
        program="nginx",
        inner=inner,
        store=cargohold.data_dir / "storage",
    )
    try:
        front.start()
    except BaseException:
        inner.stop()
        raise
    front.version = f"nginx (X-Accel-Redirect) + {inner.version}"
    return front
