"""A node lost under mixed load: sixteen clients push images through nginx (small ones in
single requests, larger layers as chunked uploads of several PATCHes) while one node's
whole process group is killed with SIGKILL.

What must hold: the only 5xx answers are nginx's 502s for requests that were in flight on
the killed node (never an answer of the survivor); a client that lost a request finds its
upload where the shared state says it is (resumes it, or starts over on 404
BLOB_UPLOAD_UNKNOWN); and every push that was acknowledged pulls back byte for byte
through the survivor."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.cluster.conftest import Cluster, Node

MiB = 1024 * 1024
CLIENTS = 16
PUSHES_BEFORE_KILL = 8  # acknowledged pushes before the kill (waiting at most 30 s)
LOAD_AFTER_KILL = 6.0  # seconds of load after it
CHUNK = 3 * MiB  # PATCH size of chunked uploads (parts are 5 MiB in this cluster)
ATTEMPTS = 4  # starts of one upload before a client gives up
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Answer:
    method: str
    path: str
    status: int
    started: float
    ended: float
    upstream: str
    content_type: str
    body: str

    def __str__(self) -> str:
        return (
            f"{self.method} {self.path} -> {self.status} via {self.upstream or '?'}"
            f" [{self.started:.2f}..{self.ended:.2f}] {self.body[:200]!r}"
        )


@dataclass
class Log:
    """Every answer any client got, and every push acknowledged (a manifest PUT's 201)."""

    answers: list[Answer] = field(default_factory=list)
    pushed: list[tuple[str, str, bytes, dict[str, bytes]]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, base_url: str) -> httpx.Client:
        def stamp(request: httpx.Request) -> None:
            request.extensions["started"] = time.monotonic()

        def record(response: httpx.Response) -> None:
            response.read()
            request = response.request
            answer = Answer(
                request.method,
                request.url.path,
                response.status_code,
                request.extensions["started"],
                time.monotonic(),
                response.headers.get("x-upstream", ""),
                response.headers.get("content-type", ""),
                response.text[:300],
            )
            with self.lock:
                self.answers.append(answer)

        return httpx.Client(
            base_url=base_url,
            timeout=60,
            event_hooks={"request": [stamp], "response": [record]},
        )


class GaveUp(Exception):
    pass


def _check(response: httpx.Response, *expected: int) -> bool:
    return response.status_code in expected


def _offset(response: httpx.Response) -> int:
    """Bytes an upload holds, from a status answer (`Range: 0-N`; we never hold one byte)."""
    last = int(response.headers["range"].split("-")[1])
    return last + 1 if last else 0


def chunked_blob(client: httpx.Client, name: str, data: bytes) -> str:
    """Upload `data` in PATCHes; after a lost request, ask the session where it stands and
    go on from there, or start over when it is gone (404)."""
    digest = digest_of(data)
    for _ in range(ATTEMPTS):
        started = client.post(f"/v2/{name}/blobs/uploads/")
        if not _check(started, 202):
            continue
        location = started.headers["location"]
        offset = 0
        for _step in range(4 * len(data) // CHUNK + 8):
            if offset < len(data):
                end = min(offset + CHUNK, len(data))
                patched = client.patch(
                    location,
                    content=data[offset:end],
                    headers={"Content-Range": f"{offset}-{end - 1}"},
                )
                if _check(patched, 202):
                    offset, location = end, patched.headers["location"]
                    continue
            else:
                done = client.put(location, params={"digest": digest})
                if _check(done, 201):
                    return digest
                if _check(client.head(f"/v2/{name}/blobs/{digest}"), 200):
                    return digest  # it was stored before the answer was lost
            status = client.get(location)
            if not _check(status, 204):
                break  # the session is gone: start over
            offset = _offset(status)
    raise GaveUp(f"could not upload a blob of {len(data)} bytes to {name}")


def single_blob(client: httpx.Client, name: str, data: bytes) -> str:
    digest = digest_of(data)
    for _ in range(ATTEMPTS):
        pushed = client.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=data)
        if _check(pushed, 201):
            return digest
    raise GaveUp(f"could not push a blob of {len(data)} bytes to {name}")


def push_image(
    client: httpx.Client, name: str, tag: str, layers: list[bytes], chunked: bool
) -> tuple[bytes, dict[str, bytes]]:
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
    blobs = {digest_of(config): config}
    single_blob(client, name, config)
    for layer in layers:
        blobs[(chunked_blob if chunked else single_blob)(client, name, layer)] = layer
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER, "digest": digest_of(layer), "size": len(layer)}
                for layer in layers
            ],
        }
    ).encode()
    for _ in range(ATTEMPTS):
        put = client.put(
            f"/v2/{name}/manifests/{tag}",
            content=manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        if _check(put, 201):
            return manifest, blobs
    raise GaveUp(f"could not push the manifest {name}:{tag}")


def pusher(cluster: Cluster, log: Log, number: int, stop: threading.Event) -> None:
    """Client `number`: images one after the other until `stop`; even clients push a layer
    of 8-11 MiB in chunks, odd ones two small layers in single requests."""
    name = f"acme/loss-{number % 4}"
    chunked = number % 2 == 0
    with log.client(cluster.url) as client:
        round_ = 0
        while not stop.is_set():
            tag = f"c{number}-r{round_}"
            if chunked:
                layers = [os.urandom(8 * MiB + number * 200_000 + round_)]
            else:
                layers = [os.urandom(2000 + round_), os.urandom(30_000 + number)]
            try:
                manifest, blobs = push_image(client, name, tag, layers, chunked)
            except (GaveUp, httpx.HTTPError) as exc:
                with log.lock:
                    log.failures.append(f"client {number} {tag}: {exc!r}")
                return
            with log.lock:
                log.pushed.append((name, tag, manifest, blobs))
            round_ += 1


def in_flight_on(node: Node, killed: tuple[float, float]) -> Callable[[Answer], bool]:
    """An answer of nginx itself (no JSON body) for a request that the node was serving
    when it was killed."""
    address = f"127.0.0.1:{node.port}"

    def check(answer: Answer) -> bool:
        return (
            answer.status in (502, 504)
            and "json" not in answer.content_type
            and address in answer.upstream
            and answer.started <= killed[1]
            and answer.ended >= killed[0]
        )

    return check


def test_a_node_killed_under_mixed_load_loses_no_acknowledged_push(cluster: Cluster) -> None:
    survivor, doomed = cluster.nodes
    log = Log()
    stop = threading.Event()
    clients = [
        threading.Thread(target=pusher, args=(cluster, log, number, stop), daemon=True)
        for number in range(CLIENTS)
    ]
    began = time.monotonic()
    for client in clients:
        client.start()
    try:
        while len(log.pushed) < PUSHES_BEFORE_KILL and time.monotonic() - began < 30:
            time.sleep(0.1)
        killed_at = time.monotonic()
        doomed.kill()
        killed = (killed_at, time.monotonic())
        with log.lock:
            before = len(log.pushed)
        time.sleep(LOAD_AFTER_KILL)
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=60)
    assert not [client for client in clients if client.is_alive()], "a client hung"
    assert time.monotonic() - began < 90

    was_in_flight = in_flight_on(doomed, killed)
    server_errors = [a for a in log.answers if a.status >= 500 and not was_in_flight(a)]
    assert server_errors == [], "\n".join(map(str, server_errors)) + "\n" + cluster.logs()
    assert log.failures == [], log.failures
    lost = [a for a in log.answers if was_in_flight(a)]
    assert before >= PUSHES_BEFORE_KILL, f"only {before} pushes before the kill"
    assert len(log.pushed) > before, "nothing was pushed after the kill"

    mismatched: list[str] = []
    with httpx.Client(base_url=survivor.url, timeout=60) as client:
        for name, tag, manifest, blobs in log.pushed:
            got = client.get(f"/v2/{name}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
            if got.status_code != 200 or got.content != manifest:
                mismatched.append(f"{name}:{tag} manifest -> {got.status_code}")
            for digest, data in blobs.items():
                blob = client.get(f"/v2/{name}/blobs/{digest}")
                if blob.status_code != 200 or blob.content != data:
                    mismatched.append(f"{name}:{tag} {digest} -> {blob.status_code}")
    assert mismatched == [], mismatched
    summary: dict[str, Any] = {
        "pushes": len(log.pushed),
        "before the kill": before,
        "lost in flight": len(lost),
        "passed on by nginx": len([a for a in log.answers if "," in a.upstream]),
        "requests": len(log.answers),
    }
    print(summary)  # shown with -s: how much the kill hit
