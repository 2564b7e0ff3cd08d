"""Push replication in a real `cargohold serve`: a multi-arch image copied in with skopeo,
and a signature of it (a manifest with a `subject`), reach distribution 2.8.2 with htpasswd
through the server's own background replicator, and skopeo copies them back out of it byte
for byte; a push made while the remote is down arrives once it is back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import backends
from tests.backends import free_port, scale_out_environment, stop_process
from tests.remote_registries import Distribution, distribution, remote_get, wait_ready

from ._support import (
    OCI_INDEX,
    OCI_MANIFEST,
    OciLayout,
    Proc,
    Skopeo,
    describe_response,
    layout_ref,
    push_blob,
    push_manifest,
    run,
    sha256_digest,
)

pytestmark = pytest.mark.interop

SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"
ACCEPT = f"{OCI_INDEX}, {OCI_MANIFEST}"


@dataclass
class Source:
    url: str
    host: str
    cli: Callable[..., Proc]


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distribution]:
    with distribution(tmp_path_factory.mktemp("remote")) as server:
        yield server


@pytest.fixture(scope="module")
def source(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    remote: Distribution,
) -> Iterator[Source]:
    """A `cargohold serve` (no auth) whose workspace acme replicates to `remote` under
    `copies/`, made with the CLI before the server starts; one for the module (the tests
    count the jobs they add)."""
    tmp_path = tmp_path_factory.mktemp("source")
    data_dir = tmp_path / "data"
    env = dict(os.environ)
    if backends.test_backend() == "postgres-s3":
        pg, store = (request.getfixturevalue(f) for f in ("postgres_server", "seaweedfs_server"))
        env = scale_out_environment(pg, store, "replication_live")
    env |= {
        "CARGOHOLD_REPLICATION_ALLOWED_NETWORKS": "127.0.0.0/8",
        "CARGOHOLD_REPLICATION_POLL_INTERVAL": "0.2",
        "CARGOHOLD_REPLICATION_RETRY_INITIAL": "0.5",
        "CARGOHOLD_REPLICATION_RETRY_MAX": "2",
        "CARGOHOLD_REPLICATION_MAX_ATTEMPTS": "1000",  # a slow check must not see it fail
    }

    def cli(*args: str, input: bytes | None = None) -> Proc:
        command = [sys.executable, "-m", "cargohold", *args, "--data-dir", str(data_dir)]
        return run(command, env=env, input=input, timeout=120)

    cli("user", "create", "ops@example.com")
    cli("workspace", "create", "acme", "--owner", "ops@example.com")
    cli("replication", "create", "acme", "--url", remote.url, "--prefix", "copies",
        "--username", remote.username, "--password-stdin",
        input=remote.password.encode() + b"\n")  # fmt: skip
    port = free_port()
    log = tmp_path / "source.log"
    command = [
        sys.executable, "-m", "cargohold", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(data_dir), "--auth", "none",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, url, log, status=200)
        yield Source(url, f"127.0.0.1:{port}", cli)
    finally:
        stop_process(process)


def status(source: Source) -> dict[str, Any]:
    [line] = source.cli("replication", "list", "acme", "--json").out.splitlines()
    found: dict[str, Any] = json.loads(line)
    return found


def wait_for(done: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.3)


def signature_of(client: httpx.Client, name: str, index: bytes, index_digest: str) -> str:
    """Push a signature of the index (a manifest whose subject it is) by digest."""
    claim = json.dumps({"critical": {"image": {"docker-manifest-digest": index_digest}}}).encode()
    config = push_blob(client, name, b"{}")
    layer = push_blob(client, name, claim)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SIGNATURE,
            "config": {"mediaType": EMPTY, "digest": config, "size": 2},
            "layers": [{"mediaType": SIGNATURE, "digest": layer, "size": len(claim)}],
            "subject": {"mediaType": OCI_INDEX, "digest": index_digest, "size": len(index)},
        }
    ).encode()
    answer = push_manifest(client, name, sha256_digest(manifest), manifest, OCI_MANIFEST)
    return str(answer.headers["Docker-Content-Digest"])


def test_a_signed_multi_arch_image_reaches_distribution_and_copies_back_byte_for_byte(
    source: Source, remote: Distribution, skopeo: Skopeo, tmp_path: Path
) -> None:
    layout = OciLayout(tmp_path / "in")
    platforms = [
        layout.add_image([{"arch.txt": arch.encode()}], architecture=arch)
        for arch in ("amd64", "arm64")
    ]
    before = status(source)["jobs"]["done"]
    index, descriptor = layout.add_index(platforms)
    layout.tag("v1", descriptor)
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout.root}:v1",
           f"docker://{source.host}/acme/app:v1")  # fmt: skip
    with httpx.Client(base_url=source.url, timeout=30) as client:
        signature = signature_of(client, "acme/app", index, descriptor["digest"])
    fallback = f"/v2/copies/app/manifests/sha256-{descriptor['digest'][7:]}"
    wait_for(
        lambda: remote_get(remote.url, fallback, remote.auth, ACCEPT).status_code == 200,
        "the signature did not arrive",
    )
    # Four pushes, four jobs: the two platform images, the index with its tag, the signature.
    wait_for(lambda: status(source)["jobs"]["done"] == before + 4, "the jobs were not done")
    assert status(source)["jobs"]["failed"] == 0
    out = tmp_path / "out"
    user, password = remote.auth
    skopeo("copy", "--all", "--src-tls-verify=false", f"--src-creds={user}:{password}",
           f"docker://127.0.0.1:{remote.port}/copies/app:v1", f"oci:{out}:v1")  # fmt: skip
    assert layout_ref(out, "v1")["digest"] == descriptor["digest"]
    for image in platforms:
        for blob in (image.manifest, image.config, *image.layers):
            digest = sha256_digest(blob)
            assert (out / "blobs" / "sha256" / digest[7:]).read_bytes() == blob
    got = remote_get(remote.url, f"/v2/copies/app/manifests/{signature}", remote.auth, ACCEPT)
    assert got.status_code == 200, describe_response(got)
    listed = remote_get(remote.url, fallback, remote.auth, ACCEPT)
    assert [d["digest"] for d in listed.json()["manifests"]] == [signature]


def test_a_push_made_while_the_remote_is_down_arrives_once_it_is_back(
    source: Source, remote: Distribution, skopeo: Skopeo, tmp_path: Path
) -> None:
    before = status(source)["jobs"]["done"]
    remote.stop()
    layout = OciLayout(tmp_path / "in")
    image = layout.add_image([{"down.txt": b"pushed while the remote was down"}])
    layout.tag("v2", image.descriptor)
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout.root}:v2",
           f"docker://{source.host}/acme/app:v2")  # fmt: skip
    wait_for(
        lambda: "connection refused" in (status(source)["last_error"] or ""),
        "no failed attempt was recorded",
    )
    assert status(source)["jobs"]["pending"] == 1
    remote.start()
    path = "/v2/copies/app/manifests/v2"
    wait_for(
        lambda: remote_get(remote.url, path, remote.auth, ACCEPT).status_code == 200,
        "the image did not arrive",
    )
    assert remote_get(remote.url, path, remote.auth, ACCEPT).content == image.manifest
    wait_for(lambda: status(source)["jobs"]["done"] == before + 1, "the job was not done")
