"""The pull-through cache with real clients against a live `cargohold serve` (docs/mirror.md):
the upstream is distribution 2.8.2 with htpasswd on 127.0.0.1 (tests/remote_registries.py),
mirrored as acme/hub, which also answers the Docker engine's registry-mirrors requests
(CARGOHOLD_DOCKER_MIRROR=acme/hub). The server runs with auth = none (loopback only): who
may pull is the functional tests' business (tests/functional/mirrors)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests import backends
from tests.backends import free_port, scale_out_environment, stop_process
from tests.remote_registries import Distribution, distribution

from ._support import (
    OCI_INDEX,
    Docker,
    OciLayout,
    Skopeo,
    layout_ref,
    log_tail,
    sha256_digest,
)

pytestmark = pytest.mark.interop

BIG = 200 * 1024 * 1024


@dataclass
class Mirrored:
    """The live server (`url`, `host`), its mirror acme/hub and the upstream behind it."""

    url: str
    host: str
    upstream: Distribution
    log_path: Path

    def ref(self, name: str, tag: str) -> str:
        return f"docker://{self.host}/acme/hub/{name}:{tag}"


def _cli(env: dict[str, str], data_dir: Path, *args: str, stdin: bytes | None = None) -> None:
    command = [sys.executable, "-m", "cargohold", *args, "--data-dir", str(data_dir)]
    done = subprocess.run(command, env=env, input=stdin, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")


@pytest.fixture(scope="module")
def mirrored(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mirrored]:
    workdir = tmp_path_factory.mktemp("mirror")
    env = dict(os.environ)
    if backends.test_backend() == "postgres-s3":
        pg, store = (request.getfixturevalue(f) for f in ("postgres_server", "seaweedfs_server"))
        env = scale_out_environment(pg, store, "mirror")
    env |= {
        "CARGOHOLD_MIRROR_ALLOWED_NETWORKS": "127.0.0.0/8",
        "CARGOHOLD_DOCKER_MIRROR": "acme/hub",
        "CARGOHOLD_MIRROR_TAG_TTL": "0",
    }
    data_dir = workdir / "data"
    with distribution(workdir / "upstream") as upstream:
        _cli(env, data_dir, "user", "create", "owner@example.com")
        _cli(env, data_dir, "workspace", "create", "acme", "--owner", "owner@example.com")
        _cli(env, data_dir, "mirror", "create", "acme/hub", "--upstream", upstream.url,
             "--username", upstream.username, "--password-stdin",
             stdin=f"{upstream.password}\n".encode())  # fmt: skip
        port = free_port()
        log_path = workdir / "server.log"
        command = [
            sys.executable, "-m", "cargohold", "serve", "--host", "127.0.0.1",
            "--port", str(port), "--data-dir", str(data_dir), "--auth", "none",
        ]  # fmt: skip
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_open(process, url, log_path)
            yield Mirrored(url, f"127.0.0.1:{port}", upstream, log_path)
        finally:
            stop_process(process)


def _wait_open(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            pytest.fail(f"server exited\n{log_tail(log_path)}", pytrace=False)
        try:
            if httpx.get(f"{url}/v2/", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"server not ready\n{log_tail(log_path)}", pytrace=False)
        time.sleep(0.2)


def _push_upstream(skopeo: Skopeo, mirrored: Mirrored, layout: Path, name: str, tag: str) -> None:
    upstream = mirrored.upstream
    skopeo(
        "copy", "--all", "--dest-tls-verify=false",
        "--dest-creds", f"{upstream.username}:{upstream.password}",
        f"oci:{layout}:{tag}", f"docker://127.0.0.1:{upstream.port}/{name}:{tag}",
    )  # fmt: skip


def _multi_arch(root: Path, tag: str, text: bytes) -> tuple[str, dict[str, str]]:
    """An index of amd64 and arm64 in an OCI layout; its digest and its platforms'."""
    src = OciLayout(root)
    amd64 = src.add_image([{"etc/motd": text + b" amd64\n"}], architecture="amd64")
    arm64 = src.add_image([{"etc/motd": text + b" arm64\n"}], architecture="arm64")
    _, index = src.add_index([amd64, arm64])
    src.tag(tag, index)
    return str(index["digest"]), {"amd64": amd64.digest, "arm64": arm64.digest}


def test_skopeo_copies_a_multi_arch_image_through_the_mirror(
    skopeo: Skopeo, mirrored: Mirrored, tmp_path: Path
) -> None:
    index, platforms = _multi_arch(tmp_path / "src", "v1", b"multi")
    _push_upstream(skopeo, mirrored, tmp_path / "src", "tools/multi", "v1")
    dst = tmp_path / "dst"
    skopeo("copy", "--all", "--src-tls-verify=false",
           mirrored.ref("tools/multi", "v1"), f"oci:{dst}:v1")  # fmt: skip
    assert layout_ref(dst, "v1")["digest"] == index
    arm = tmp_path / "arm"
    skopeo(
        "--override-arch", "arm64", "--override-os", "linux", "copy",
        "--src-tls-verify=false", mirrored.ref("tools/multi", "v1"), f"oci:{arm}:v1",
    )  # fmt: skip
    assert layout_ref(arm, "v1")["digest"] == platforms["arm64"]


def test_cached_tags_still_pull_with_a_warning_while_the_upstream_is_stopped(
    skopeo: Skopeo, mirrored: Mirrored, tmp_path: Path
) -> None:
    index, _ = _multi_arch(tmp_path / "src", "stable", b"cached")
    _push_upstream(skopeo, mirrored, tmp_path / "src", "tools/cached", "stable")
    skopeo("copy", "--all", "--src-tls-verify=false",
           mirrored.ref("tools/cached", "stable"), f"oci:{tmp_path / 'first'}:stable")  # fmt: skip
    mirrored.upstream.stop()
    try:
        again = tmp_path / "again"
        skopeo("copy", "--all", "--src-tls-verify=false",
               mirrored.ref("tools/cached", "stable"), f"oci:{again}:stable")  # fmt: skip
        assert layout_ref(again, "stable")["digest"] == index
        answer = httpx.get(
            f"{mirrored.url}/v2/acme/hub/tools/cached/manifests/stable",
            headers={"Accept": OCI_INDEX},
        )
        assert answer.status_code == 200
        assert answer.headers["warning"].startswith("110 ")
        never = httpx.get(f"{mirrored.url}/v2/acme/hub/tools/never/manifests/1")
        assert never.status_code == 503
    finally:
        mirrored.upstream.start()


def _upstream_fetches(upstream: Distribution, path: str) -> int:
    """GETs of `path` that distribution answered 200, from its access log."""
    text = (upstream.workdir / "registry.log").read_text(errors="replace")
    return len(re.findall(rf'"GET {re.escape(path)} HTTP/1.1" 200 ', text))


async def _pull(url: str) -> str:
    """The sha256 of the body of one GET, read as it arrives."""
    digest = hashlib.sha256()
    async with (
        httpx.AsyncClient(timeout=600) as client,
        client.stream("GET", url) as response,
    ):
        assert response.status_code == 200
        async for chunk in response.aiter_bytes():
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def test_ten_concurrent_pulls_of_a_200_mb_blob_make_one_upstream_fetch(
    mirrored: Mirrored,
) -> None:
    upstream = mirrored.upstream
    blob = os.urandom(BIG)
    digest = sha256_digest(blob)
    with httpx.Client(base_url=upstream.url, auth=upstream.auth, timeout=600) as client:
        started = client.post("/v2/library/big/blobs/uploads/")
        location = started.headers["location"]
        joiner = "&" if "?" in location else "?"
        assert client.put(f"{location}{joiner}digest={digest}", content=blob).status_code == 201
    del blob
    url = f"{mirrored.url}/v2/acme/hub/big/blobs/{digest}"

    async def pulls() -> list[str]:
        return await asyncio.gather(*(_pull(url) for _ in range(10)))

    assert asyncio.run(pulls()) == [digest] * 10
    assert _upstream_fetches(upstream, f"/v2/library/big/blobs/{digest}") == 1


def _daemon_config(docker: Docker, config: dict[str, object]) -> None:
    """Write the session dockerd's daemon.json and make it reload (registry-mirrors is one
    of the settings a SIGHUP reloads)."""
    short = Path(docker.env["DOCKER_HOST"].removeprefix("unix://")).parent
    (short / "daemon.json").write_text(json.dumps(config))
    os.kill(int((short / "pid").read_text().strip()), signal.SIGHUP)
    time.sleep(1.0)


def test_a_docker_engine_with_registry_mirrors_pulls_busybox_through_cargohold(
    docker: Docker, skopeo: Skopeo, mirrored: Mirrored, tmp_path: Path
) -> None:
    src = OciLayout(tmp_path / "busybox")
    image = src.add_image([{"bin/motd": b"not really busybox\n"}], architecture="amd64")
    src.tag("latest", image.descriptor)
    _push_upstream(skopeo, mirrored, tmp_path / "busybox", "library/busybox", "latest")
    _daemon_config(docker, {"registry-mirrors": [mirrored.url]})
    try:
        docker("pull", "busybox:latest", timeout=180)
        inspected = docker("image", "inspect", "busybox:latest", "--format", "{{.Id}}")
        assert inspected.out.strip() == json.loads(image.manifest)["config"]["digest"]
        answer = httpx.get(f"{mirrored.url}/v2/acme/hub/busybox/tags/list")
        assert answer.json()["tags"] == ["latest"]
    finally:
        docker("image", "rm", "-f", "busybox:latest", check=False)
        _daemon_config(docker, {})
