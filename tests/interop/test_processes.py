"""The server's processes under crashes, restarts and signals, on live `cargohold serve`s.

Each test starts servers of its own (in a session of their own, so that whatever they leave
behind is ended at teardown) and looks at them from outside, as a supervisor or an operator
does: exit statuses, the PIDs the log names, who listens on the port, what clients get.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests import backends
from tests.backends import free_port, scale_out_environment

from ._support import (
    ACCEPT_MANIFESTS,
    EPOCH,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    canonical_json,
    describe_response,
    gzip_bytes,
    log_tail,
    make_tar,
    push_blob,
    push_manifest,
    sha256_digest,
)

pytestmark = pytest.mark.interop

READY_TIMEOUT = 30.0
EXIT_TIMEOUT = 15.0  # "within a few seconds", with room for a loaded machine
WORKER_PID = re.compile(r"Spawning worker-\d+ with PID: (\d+)")
_labels = itertools.count()


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    """One `cargohold serve` run: its process, port, data directory and log."""

    port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        """Every worker this server spawned so far, in order."""
        return [int(pid) for pid in WORKER_PID.findall(self.log())]

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """This server's own worker started, and GET /v2/ answers 200."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(
                    f"cargohold serve exited with {self.process.returncode} before it was"
                    f" ready\n--- server log ---\n{log_tail(self.log_path)}",
                    pytrace=False,
                )
            try:
                if (
                    "Started worker-" in self.log()
                    and httpx.get(f"{self.url}/v2/", timeout=2).status_code == 200
                ):
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"not ready after {timeout} s\n{log_tail(self.log_path)}")
            time.sleep(0.1)

    def wait_for_log(self, text: str, count: int = 1, timeout: float = READY_TIMEOUT) -> None:
        wait_until(
            lambda: self.log().count(text) >= count,
            timeout,
            f"{text!r} (x{count}) in the log\n{log_tail(self.log_path)}",
        )

    def wait_exit(self, timeout: float = EXIT_TIMEOUT) -> int:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.process.wait(timeout=timeout)
        pytest.fail(
            f"still running {timeout} s after it was told to stop\n{log_tail(self.log_path)}"
        )


@dataclass
class Servers:
    """Starts servers for one test (same environment for all) and ends them all after it."""

    workdir: Path
    env: dict[str, str]
    started: list[Server] = field(default_factory=list)

    def start(
        self,
        *,
        port: int | None = None,
        data_dir: Path | None = None,
        workers: int = 1,
        access_log: bool = False,
        env: dict[str, str] | None = None,
        ready: bool = True,
    ) -> Server:
        """`cargohold serve` on `port` and `data_dir` (new ones unless given: a restart)."""
        port = port or free_port()
        data_dir = data_dir or self.workdir / f"data-{port}"
        log_path = self.workdir / f"server-{len(self.started)}.log"
        cmd = [
            sys.executable, "-m", "cargohold", "serve",
            "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
            "--auth", "none", "--workers", str(workers),
        ]  # fmt: skip
        if access_log:
            cmd.append("--access-log")
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.workdir, env={**self.env, **(env or {})}, start_new_session=True,
            )  # fmt: skip
        server = Server(port, data_dir, log_path, process)
        self.started.append(server)
        if ready:
            server.wait_ready()
        return server

    def end_all(self) -> None:
        """SIGKILL to each server's session: the server and any worker it left behind."""
        for server in self.started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            if server.process.poll() is None:
                server.process.wait(timeout=10)


@pytest.fixture
def servers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Servers]:
    env = dict(os.environ)
    if backends.test_backend() == "postgres-s3":
        pg, store = (request.getfixturevalue(f) for f in ("postgres_server", "seaweedfs_server"))
        env = scale_out_environment(pg, store, f"proc{next(_labels)}")
    started = Servers(tmp_path, env)
    try:
        yield started
    finally:
        started.end_all()


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}", pytrace=False)
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def port_free(port: int) -> bool:
    """Nobody listens on 127.0.0.1:PORT: a new server could bind it (connections of an
    earlier server that wait out TIME_WAIT do not count)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


# --------------------------------------------------------------------------- pushing


@dataclass(frozen=True)
class Pushed:
    name: str
    tag: str
    manifest: bytes
    blobs: dict[str, bytes]


def push_image(client: httpx.Client, name: str, tag: str, size: int) -> Pushed:
    """A one-layer image of `size` random bytes, over the registry API; raises on any
    refusal or broken connection, returns once the manifest PUT is acknowledged (201)."""
    tar = make_tar({"data.bin": os.urandom(size)})
    layer = gzip_bytes(tar)
    config = canonical_json(
        {
            "created": EPOCH,
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar)]},
        }
    )
    config_digest, layer_digest = push_blob(client, name, config), push_blob(client, name, layer)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer_digest, "size": len(layer)}],
        }
    ).encode()
    push_manifest(client, name, tag, manifest, OCI_MANIFEST)
    return Pushed(name, tag, manifest, {config_digest: config, layer_digest: layer})


def start_upload(client: httpx.Client, name: str) -> str:
    start = client.post(f"/v2/{name}/blobs/uploads/")
    assert start.status_code == 202, describe_response(start)
    return str(start.headers["Location"])


@dataclass
class SlowPatch:
    """A PATCH in a thread that sends its chunk in pieces, pausing between them."""

    sending: threading.Event = field(default_factory=threading.Event)  # first piece is out
    response: httpx.Response | None = None
    error: httpx.HTTPError | None = None
    thread: threading.Thread | None = None

    def finish(self, timeout: float = 30) -> SlowPatch:
        assert self.thread is not None
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the PATCH still runs after {timeout} s"
        return self


def slow_patch(
    url: str, location: str, offset: int, data: bytes, *, pause: float, pieces: int
) -> SlowPatch:
    """Send `data` as one PATCH at `offset`, in `pieces` with `pause` seconds after each;
    returns once the first piece is out."""
    patch = SlowPatch()
    step = -(-len(data) // pieces)

    def body() -> Iterator[bytes]:
        for start in range(0, len(data), step):
            yield data[start : start + step]
            patch.sending.set()
            time.sleep(pause)

    def run() -> None:
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(len(data)),
            "Content-Range": f"{offset}-{offset + len(data) - 1}",
        }
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                patch.response = client.patch(location, content=body(), headers=headers)
        except httpx.HTTPError as exc:
            patch.error = exc

    patch.thread = threading.Thread(target=run, daemon=True)
    patch.thread.start()
    assert patch.sending.wait(10), "the PATCH did not start"
    return patch


# --------------------------------------------------------------------------- crash and restart


def test_a_server_killed_under_load_restarts_at_once_on_its_port_and_keeps_every_acknowledged_push(
    servers: Servers,
) -> None:
    first = servers.start(workers=2)
    idle = httpx.Client(base_url=first.url)  # a client connected, and idle, at the crash
    assert idle.get("/v2/").status_code == 200
    acknowledged: list[Pushed] = []
    stop = threading.Event()

    def pusher(n: int) -> None:
        with httpx.Client(base_url=first.url, timeout=30) as client:
            for i in itertools.count():
                if stop.is_set():
                    return
                try:
                    acknowledged.append(push_image(client, f"load/p{n}", f"t{i}", 512 * 1024))
                except (httpx.HTTPError, AssertionError):
                    return  # the crash cut it: not acknowledged

    threads = [threading.Thread(target=pusher, args=(n,), daemon=True) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(acknowledged) >= 6, 60, "six pushes acknowledged")
        os.kill(first.pid, signal.SIGKILL)
        first.process.wait(timeout=10)
        second = servers.start(port=first.port, data_dir=first.data_dir)  # at once
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        idle.close()
    left = [pid for pid in first.worker_pids() if alive(pid)]
    assert not left, f"workers of the killed server still run: {left}"

    with httpx.Client(base_url=second.url, timeout=30) as client:
        for pushed in list(acknowledged):
            got = client.get(
                f"/v2/{pushed.name}/manifests/{pushed.tag}", headers={"Accept": ACCEPT_MANIFESTS}
            )
            assert got.status_code == 200, describe_response(got)
            assert got.content == pushed.manifest
            for digest, data in pushed.blobs.items():
                blob = client.get(f"/v2/{pushed.name}/blobs/{digest}", follow_redirects=True)
                assert blob.status_code == 200, describe_response(blob)
                assert blob.content == data, f"{pushed.name}:{pushed.tag} blob {digest} differs"
    assert second.process.poll() is None, log_tail(second.log_path)


def test_killing_the_supervisor_kills_its_workers_and_frees_the_port(servers: Servers) -> None:
    server = servers.start(workers=2)
    server.wait_for_log("Spawning worker-", count=2)
    workers = server.worker_pids()
    assert all(alive(pid) for pid in workers), log_tail(server.log_path)

    os.kill(server.pid, signal.SIGKILL)
    server.process.wait(timeout=10)

    wait_until(
        lambda: not any(alive(pid) for pid in workers), EXIT_TIMEOUT, f"workers {workers} gone"
    )
    wait_until(lambda: port_free(server.port), EXIT_TIMEOUT, "nothing listens on the port")


def test_a_killed_worker_is_replaced(servers: Servers) -> None:
    server = servers.start()
    [worker] = server.worker_pids()

    os.kill(worker, signal.SIGKILL)

    server.wait_for_log("Spawning worker-1", count=2)
    server.wait_ready()
    replacement = server.worker_pids()[-1]
    assert replacement != worker and alive(replacement)
    assert server.process.poll() is None, "the supervisor itself stays"


# --------------------------------------------------------------------------- stopping


def test_sigterm_refuses_new_connections_lets_requests_in_flight_finish_and_exits_0(
    servers: Servers,
) -> None:
    server = servers.start(env={"CARGOHOLD_SHUTDOWN_TIMEOUT": "60"})
    with httpx.Client(base_url=server.url) as client:
        location = start_upload(client, "stop/graceful")
    data = os.urandom(2 * 1024 * 1024)
    upload = slow_patch(server.url, location, 0, data, pause=0.5, pieces=10)

    server.process.send_signal(signal.SIGTERM)

    wait_until(lambda: refuses_connections(server.port), 5, "new connections refused")
    response = upload.finish().response
    assert response is not None, upload.error
    assert response.status_code == 202, describe_response(response)
    assert response.headers["Range"] == f"0-{len(data) - 1}"
    assert server.wait_exit() == 0
    assert port_free(server.port)


def test_sigterm_ends_requests_still_running_after_the_shutdown_timeout_and_exits_0(
    servers: Servers,
) -> None:
    server = servers.start(env={"CARGOHOLD_SHUTDOWN_TIMEOUT": "2"})
    with httpx.Client(base_url=server.url) as client:
        location = start_upload(client, "stop/bounded")
    upload = slow_patch(server.url, location, 0, os.urandom(300_000), pause=1.0, pieces=30)

    stopping = time.monotonic()
    server.process.send_signal(signal.SIGTERM)

    assert server.wait_exit(timeout=20) == 0
    took = time.monotonic() - stopping
    assert took < 2 + 5, f"stopped after {took:.1f} s, with shutdown_timeout = 2 s"
    assert upload.finish().error is not None, f"the 30 s upload was not cut: {upload.response}"
    assert port_free(server.port)


def test_an_upload_cut_by_a_restart_resumes_with_the_next_patch(servers: Servers) -> None:
    quick = {"CARGOHOLD_SHUTDOWN_TIMEOUT": "1"}
    first = servers.start(env=quick)
    head, tail = os.urandom(1024 * 1024), os.urandom(700 * 1024)
    with httpx.Client(base_url=first.url, timeout=30) as client:
        location = start_upload(client, "resume/blob")
        done = client.patch(
            location,
            content=head,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"0-{len(head) - 1}",
            },
        )
        assert done.status_code == 202, describe_response(done)
        location = done.headers["Location"]
    cut = slow_patch(first.url, location, len(head), tail, pause=1.0, pieces=20)
    first.process.send_signal(signal.SIGTERM)  # the restart: stop ...
    assert first.wait_exit() == 0
    assert cut.finish().error is not None, "the second chunk was meant to be cut by the restart"

    second = servers.start(port=first.port, data_dir=first.data_dir, env=quick)  # ... and start
    with httpx.Client(base_url=second.url, timeout=30) as client:
        status = client.get(location)
        assert status.status_code == 204, describe_response(status)
        assert status.headers["Range"] == f"0-{len(head) - 1}"
        resumed = client.patch(
            status.headers.get("Location", location),
            content=tail,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{len(head)}-{len(head) + len(tail) - 1}",
            },
        )
        assert resumed.status_code == 202, describe_response(resumed)
        digest = sha256_digest(head + tail)
        finished = client.put(resumed.headers["Location"], params={"digest": digest})
        assert finished.status_code == 201, describe_response(finished)
        blob = client.get(f"/v2/resume/blob/blobs/{digest}")
        assert blob.status_code == 200, describe_response(blob)
        assert blob.content == head + tail


@pytest.mark.parametrize(
    "moment",
    ["0.2 s after the server process starts", "as it says it is listening", "0.2 s after launch"],
)
def test_sigterm_during_start_stops_the_whole_server_and_frees_the_port(
    servers: Servers, moment: str
) -> None:
    """A stop that arrives while the server starts is not lost: the supervisor does not go on
    serving, nor leave a worker behind that still loads the app and then serves."""
    server = servers.start(ready=False)
    if moment == "0.2 s after the server process starts":
        server.wait_for_log("Starting granian")  # its workers are being spawned now
        time.sleep(0.2)
    elif moment == "as it says it is listening":
        server.wait_for_log("cargohold listening")  # it is about to become the server
    else:
        time.sleep(0.2)

    server.process.send_signal(signal.SIGTERM)

    status = server.wait_exit()
    if moment == "0.2 s after launch" and status == -signal.SIGTERM:
        # Still importing the command line, before `serve` ran a line: Python's default
        # action ends it there, having started nothing.
        assert "Starting granian" not in server.log()
    else:
        assert status == 0, log_tail(server.log_path)
    workers = server.worker_pids()
    wait_until(
        lambda: not any(alive(pid) for pid in workers), EXIT_TIMEOUT, f"workers {workers} gone"
    )
    assert port_free(server.port) and refuses_connections(server.port)


# --------------------------------------------------------------------------- the access log


def test_a_log_line_forged_in_a_path_stays_on_its_own_line_escaped(servers: Servers) -> None:
    server = servers.start(access_log=True)
    fake = '[2030-01-01 00:00:00 +0000] 10.9.8.7 - "DELETE /v2/x/manifests/y HTTP/1.1" 202 0.1'
    path = "/v2/forged%0d%0a" + fake.replace(" ", "%20").replace('"', "%22") + "/tags/list"

    response = httpx.get(server.url + path)
    assert response.status_code == 404

    wait_until(lambda: "forged" in server.log(), 10, "the request logged")
    lines = [line for line in server.log().splitlines() if "10.9.8.7" in line]
    assert len(lines) == 1, lines
    assert "GET /v2/forged\\x0d\\x0a[2030-01-01 00:00:00 +0000] 10.9.8.7 - \\x22DELETE" in lines[0]
    assert re.search(r'/tags/list HTTP/1\.1" 404 [0-9.]+ id=\S+ route=', lines[0]), lines[0]
    assert not any(line.startswith("[2030-01-01") for line in server.log().splitlines())
