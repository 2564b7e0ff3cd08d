"""Webhooks from a live `cargohold serve`: its background delivery sends what a push over
real HTTP records to a receiver on 127.0.0.1, and a delivery in flight when the server is
killed with SIGKILL is made again after the restart, with the same event id and body.

The endpoint is registered through the services on the server's own database (the server
runs with auth = none, whose API still needs accounts); everything else is the server's."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import backends
from tests.backends import scale_out_environment
from tests.webhook_receiver import Answer, Received, Receiver, receiving, verify
from tests.webhook_setup import register_webhook

from .test_processes import Servers, push_image, wait_until

pytestmark = pytest.mark.interop

SECRET = "live-webhook-secret-" + "x" * 20
SEALING = "live-webhook-sealing-key-0123456789"
SETTINGS_ENV = {
    "CARGOHOLD_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    "CARGOHOLD_WEBHOOK_TIMEOUT": "2",
    "CARGOHOLD_WEBHOOK_POLL_INTERVAL": "0.2",
    "CARGOHOLD_WEBHOOK_RETRY_INITIAL": "0.5",
    "CARGOHOLD_WEBHOOK_SECRET_KEY": SEALING,
    "CARGOHOLD_GC_ENABLED": "false",
}


@pytest.fixture
def servers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Servers]:
    env = {**os.environ, **SETTINGS_ENV}
    if backends.test_backend() == "postgres-s3":
        pg, store = (request.getfixturevalue(f) for f in ("postgres_server", "seaweedfs_server"))
        env = {**scale_out_environment(pg, store, "webhooks_live"), **SETTINGS_ENV}
    started = Servers(tmp_path, env)
    try:
        yield started
    finally:
        started.end_all()


def register(data_dir: Path, env: dict[str, str], url: str) -> int:
    """Workspace acme and an endpoint of it, made on the server's database."""
    return register_webhook(
        data_dir=data_dir,
        database_url=env.get("CARGOHOLD_DATABASE_URL"),
        sealing_key=SEALING,
        url=url,
        secret=SECRET,
        created_by="the live test",
    )


def pushed(receiver: Receiver) -> list[Received]:
    return receiver.events("manifest.pushed")


def test_a_push_to_a_live_server_reaches_the_receiver_signed(servers: Servers) -> None:
    server = servers.start()
    with receiving() as receiver:
        register(server.data_dir, servers.env, receiver.url)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            push_image(client, "acme/app", "v1", 1024)
        wait_until(lambda: bool(pushed(receiver)), 30, "the push delivered")
        [delivery] = pushed(receiver)
        assert verify(SECRET, delivery.headers["cargohold-signature"], delivery.body)
        assert delivery.json()["id"] == delivery.event_id
        assert (delivery.json()["package"], delivery.json()["tag"]) == ("acme/app", "v1")
        assert [r.event for r in receiver.received] == ["ping", "manifest.pushed"]


def test_a_delivery_cut_off_by_sigkill_is_made_again_after_the_restart(
    servers: Servers,
) -> None:
    server = servers.start()
    held = threading.Event()
    with receiving() as receiver:
        # The first push delivery gets no answer: the node dies while it waits for one.
        receiver.answer = lambda found: (
            Answer(hold=held)
            if found.event == "manifest.pushed" and len(pushed(receiver)) == 1
            else Answer(204)
        )
        try:
            register(server.data_dir, servers.env, receiver.url)
            with httpx.Client(base_url=server.url, timeout=30) as client:
                push_image(client, "acme/app", "v1", 1024)
            wait_until(lambda: bool(pushed(receiver)), 30, "the push sent once")
            time.sleep(0.3)  # the request is in flight, unanswered
            servers.end_all()  # SIGKILL to the whole server
            assert server.process.poll() is not None
            servers.start(port=server.port, data_dir=server.data_dir)
            # Its lease expires (2 x webhook_timeout + 5 s), then the delivery goes again.
            wait_until(lambda: len(pushed(receiver)) >= 2, 60, "the push delivered again")
        finally:
            held.set()
        first, again = pushed(receiver)[:2]
        assert first.event_id == again.event_id
        assert first.body == again.body
        assert verify(SECRET, again.headers["cargohold-signature"], again.body)
        time.sleep(1)
        assert len(pushed(receiver)) == 2  # once answered, never sent again
