"""Webhook delivery from two `cargohold serve` nodes on one PostgreSQL database (and one
SeaweedFS bucket): both run delivery all the time, yet in a quiet run (no node lost, the
receiver answering) each event reaches the receiver exactly once, whichever node recorded it.

Pushes alternate between the nodes; the endpoint is registered through the services on the
shared database. Everything listens on 127.0.0.1."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.backends import PostgresServer, SeaweedFS, free_port, scale_out_environment
from tests.cluster.conftest import Node
from tests.interop.test_processes import push_image
from tests.webhook_receiver import Receiver, receiving, verify
from tests.webhook_setup import register_webhook

SECRET = "cluster-webhook-secret-" + "x" * 20
SEALING = "cluster-webhook-sealing-key-0123456789"
PUSHES = 12


@pytest.fixture(scope="module")
def nodes(
    postgres_server: PostgresServer,
    seaweedfs_server: SeaweedFS,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[list[Node]]:
    root = tmp_path_factory.mktemp("webhook-cluster")
    env = scale_out_environment(postgres_server, seaweedfs_server, "webhooks_cluster")
    env.update(
        {
            "CARGOHOLD_AUTH": "none",
            "CARGOHOLD_GC_ENABLED": "false",
            "CARGOHOLD_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
            "CARGOHOLD_WEBHOOK_POLL_INTERVAL": "0.1",
            "CARGOHOLD_WEBHOOK_TIMEOUT": "3",
            "CARGOHOLD_WEBHOOK_SECRET_KEY": SEALING,
            "CARGOHOLD_S3_PART_SIZE": str(5 * 1024 * 1024),
        }
    )
    started = [Node(f"node{i}", free_port(), env, root) for i in (1, 2)]
    try:
        for node in started:
            node.start()
        yield started
    finally:
        for node in started:
            node.stop()


def register(node: Node, url: str) -> None:
    register_webhook(
        data_dir=node.root / "test-data",
        database_url=node.env["CARGOHOLD_DATABASE_URL"],
        sealing_key=SEALING,
        url=url,
        secret=SECRET,
        created_by="the cluster test",
    )


def wait_for(receiver: Receiver, count: int, timeout: float, nodes: list[Node]) -> None:
    deadline = time.monotonic() + timeout
    while len(receiver.received) < count:
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {n.name} ---\n{n.log_tail()}" for n in nodes)
            pytest.fail(f"{len(receiver.received)} of {count} deliveries came\n{logs}")
        time.sleep(0.1)


def test_two_nodes_deliver_each_event_exactly_once(nodes: list[Node], tmp_path: Path) -> None:
    with receiving() as receiver:
        register(nodes[0], receiver.url)
        for i in range(PUSHES):
            node = nodes[i % 2]
            with httpx.Client(base_url=node.url, timeout=60) as client:
                push_image(client, "acme/app", f"v{i}", 512)
        wait_for(receiver, PUSHES + 1, 60, nodes)
        time.sleep(3)  # a quiet spell: nothing is sent twice
        received = list(receiver.received)
    counts = Counter(r.event_id for r in received)
    assert all(n == 1 for n in counts.values()), counts
    assert len(received) == PUSHES + 1
    assert Counter(r.event for r in received) == {"ping": 1, "manifest.pushed": PUSHES}
    tags = sorted(r.json()["tag"] for r in received if r.event == "manifest.pushed")
    assert tags == sorted(f"v{i}" for i in range(PUSHES))
    assert all(verify(SECRET, r.headers["cargohold-signature"], r.body) for r in received)
