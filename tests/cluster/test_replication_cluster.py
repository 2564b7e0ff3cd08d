"""Push replication from two `cargohold serve` nodes on one PostgreSQL database (and one
SeaweedFS bucket) to distribution 2.8.2 with htpasswd: both nodes replicate all the time,
yet in a quiet run (no node lost, the remote up) each push is copied exactly once, whichever
node took it: every tag is put once at the remote, every blob uploaded once.

Pushes alternate between the nodes; the rule is made with the CLI on the shared database
before the nodes start. Everything listens on 127.0.0.1."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.backends import PostgresServer, SeaweedFS, free_port, scale_out_environment
from tests.cluster.conftest import Node
from tests.interop._support import OCI_MANIFEST, run
from tests.interop.test_processes import push_image
from tests.remote_registries import Distribution, distribution, remote_get

SEALING = "cluster-replication-sealing-key-0123456789"
PUSHES = 8


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distribution]:
    with distribution(tmp_path_factory.mktemp("replication-remote")) as server:
        yield server


@pytest.fixture(scope="module")
def nodes(
    postgres_server: PostgresServer,
    seaweedfs_server: SeaweedFS,
    tmp_path_factory: pytest.TempPathFactory,
    remote: Distribution,
) -> Iterator[list[Node]]:
    root = tmp_path_factory.mktemp("replication-cluster")
    env = scale_out_environment(postgres_server, seaweedfs_server, "replication_cluster")
    env.update(
        {
            "CARGOHOLD_AUTH": "none",
            "CARGOHOLD_GC_ENABLED": "false",
            "CARGOHOLD_REPLICATION_ALLOWED_NETWORKS": "127.0.0.0/8",
            "CARGOHOLD_REPLICATION_POLL_INTERVAL": "0.1",
            "CARGOHOLD_WEBHOOK_SECRET_KEY": SEALING,  # every node opens the sealed password
            "CARGOHOLD_S3_PART_SIZE": str(5 * 1024 * 1024),
        }
    )
    cli_data = root / "cli-data"
    for args, given in (
        (("user", "create", "ops@example.com"), None),
        (("workspace", "create", "acme", "--owner", "ops@example.com"), None),
        (
            (
                "replication",
                "create",
                "acme",
                "--url",
                remote.url,
                "--prefix",
                "copies",
                "--username",
                remote.username,
                "--password-stdin",
            ),
            remote.password.encode() + b"\n",
        ),
    ):
        command = [sys.executable, "-m", "cargohold", *args, "--data-dir", str(cli_data)]
        run(command, env=env, input=given, timeout=120)
    started = [Node(f"node{i}", free_port(), env, root) for i in (1, 2)]
    try:
        for node in started:
            node.start()
        yield started
    finally:
        for node in started:
            node.stop()


def test_two_nodes_copy_each_push_exactly_once(nodes: list[Node], remote: Distribution) -> None:
    pushed = []
    for i in range(PUSHES):
        with httpx.Client(base_url=nodes[i % 2].url, timeout=60) as client:
            pushed.append(push_image(client, "acme/app", f"v{i}", 512))
    deadline = time.monotonic() + 120
    for image in pushed:
        path = f"/v2/copies/app/manifests/{image.tag}"
        while remote_get(remote.url, path, remote.auth, OCI_MANIFEST).status_code != 200:
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {n.name} ---\n{n.log_tail()}" for n in nodes)
                pytest.fail(f"{image.tag} did not reach the remote\n{logs}")
            time.sleep(0.2)
        assert remote_get(remote.url, path, remote.auth, OCI_MANIFEST).content == image.manifest
    time.sleep(3)  # a quiet spell: nothing is copied twice
    log = (remote.workdir / "registry.log").read_text()
    for image in pushed:
        puts = re.findall(rf'"PUT /v2/copies/app/manifests/{image.tag} ', log)
        assert len(puts) == 1, (image.tag, len(puts))
    uploads = re.findall(r'"POST /v2/copies/app/blobs/uploads/ ', log)
    assert len(uploads) == 2 * PUSHES  # a config and a layer each, once
