"""A real HTTP receiver for webhook tests, on 127.0.0.1 only: it records every request and
answers what the test tells it to (a status, a redirect, or holding the request open).
It runs in a thread of its own, so that in-process deliveries, live servers and clusters
can all send to it. Use it as a context manager: it stops with the block.

`verify` checks a delivery's signature exactly as docs/webhooks.md tells receivers to."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event_id(self) -> str:
        return self.headers["cargohold-event-id"]

    @property
    def event(self) -> str:
        return self.headers["cargohold-event"]


@dataclass
class Answer:
    """What the receiver answers next: a status (with headers), or hold the request open
    until `release` is set."""

    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    hold: threading.Event | None = None


def verify(secret: str, signature_header: str, body: bytes, tolerance: float = 300) -> bool:
    """The check docs/webhooks.md shows: t=UNIX_SECONDS,v1=HEX over "{t}.{body}"."""
    parts = dict(item.split("=", 1) for item in signature_header.split(","))
    timestamp, received = parts["t"], parts["v1"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, received)


class Receiver:
    def __init__(self, port: int = 0) -> None:
        self.received: list[Received] = []
        self.answer: Callable[[Received], Answer] = lambda _: Answer()
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = port or _free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                found = Received(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time()
                )
                with receiver._lock:
                    receiver.received.append(found)
                    receiver._lock.notify_all()
                answer = receiver.answer(found)
                if answer.hold is not None:
                    answer.hold.wait(60)
                    self.close_connection = True  # never answered
                    return
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """The first `count` requests, once they have come (AssertionError after `timeout`)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(self.received)} of {count} requests came within {timeout} s:"
                        f" {[r.headers.get('cargohold-event') for r in self.received]}"
                    )
                self._lock.wait(left)
            return list(self.received[:count])

    def events(self, name: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.headers.get("cargohold-event") == name]


@contextmanager
def receiving(port: int = 0) -> Iterator[Receiver]:
    receiver = Receiver(port).start()
    try:
        yield receiver
    finally:
        receiver.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
