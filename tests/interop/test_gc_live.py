"""Online garbage collection racing real clients on a live cargohold (`cargohold gc`).

The races of the issue, with skopeo against a server of this module's own (a collection
with no grace period would take what other modules' servers keep between their tests):
a manifest deleted and collected while a pull is in flight, and pushes that re-upload or
mount a blob while the collector sweeps it. After each, every tag still pulls and every
digest it names is there, byte for byte.

The collector runs as an operator runs it: `cargohold gc --grace 0` in another process, on
the server's data directory and environment (its database and store), while it serves.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import gzip
import hashlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import asyncpg
import httpx
import pytest

from cargohold.config import Settings
from cargohold.oci.digest import Digest
from cargohold.storage.paths import BLOBS_PREFIX, blob_key
from tests import backends
from tests.backends import SeaweedFS, free_port, scale_out_environment

from ._support import (
    ACCEPT_MANIFESTS,
    EPOCH,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Image,
    OciLayout,
    Proc,
    Registry,
    Skopeo,
    canonical_json,
    describe_response,
    layout_blob,
    layout_ref,
    log_tail,
    make_tar,
    run,
    sha256_digest,
    tool,
)

pytestmark = pytest.mark.interop

MiB = 1024 * 1024
READY_TIMEOUT = 30.0
STEP_TIMEOUT = 60.0  # any one client or collector run
BLOB_UNKNOWN = re.compile(r"manifest blob unknown", re.I)  # MANIFEST_BLOB_UNKNOWN


# --------------------------------------------------------------------------- the server


@dataclass
class GcServer:
    """A cargohold of this module, with what `cargohold gc` needs to work on the same state."""

    registry: Registry
    data_dir: Path
    env: dict[str, str]
    store: SeaweedFS | None  # postgres-s3: where its blobs are

    @property
    def host(self) -> str:
        return self.registry.host

    @property
    def url(self) -> str:
        return self.registry.url

    def gc_command(self) -> list[str]:
        return [
            sys.executable, "-m", "cargohold", "gc", "--grace", "0", "--quiet",
            "--data-dir", str(self.data_dir),
        ]  # fmt: skip

    def stored(self, digests: Iterable[str]) -> list[str]:
        """Those of `digests` whose bytes are in the store (linked by a package or not)."""
        keys = {digest: blob_key(Digest.parse(digest)) for digest in digests}
        if self.store is None:
            root = Settings(data_dir=self.data_dir).blob_dir
            return [digest for digest, key in keys.items() if (root / key).is_file()]
        prefix = self.env["CARGOHOLD_S3_PREFIX"]
        present = set(self.store.list_keys(prefix=prefix + BLOBS_PREFIX))
        return [digest for digest, key in keys.items() if prefix + key in present]

    def lease_holder(self) -> str | None:
        """Who holds the `gc` lease now, read straight from the database."""
        query = "SELECT holder FROM leases WHERE name = 'gc'"
        url = self.env.get("CARGOHOLD_DATABASE_URL")
        if url:

            async def fetch() -> str | None:
                conn = await asyncpg.connect(url, timeout=5)
                try:
                    holder: str | None = await conn.fetchval(query)
                    return holder
                finally:
                    await conn.close()

            return backends.run(fetch())
        path = self.data_dir / "cargohold.db"
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute(query).fetchone()
        finally:
            conn.close()
        return None if row is None else str(row[0])

    def log_size(self) -> int:
        try:
            return self.registry.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int) -> str:
        with self.registry.log_path.open("rb") as fh:
            fh.seek(offset)
            return fh.read().decode("utf-8", errors="replace")

    def log_tail(self) -> str:
        return f"--- server log ({self.registry.log_path}) ---\n" + log_tail(
            self.registry.log_path, lines=60
        )


@pytest.fixture(scope="module")
def gc_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GcServer]:
    workdir = tmp_path_factory.mktemp("server-gc")
    data_dir = workdir / "data"
    store: SeaweedFS | None = None
    if backends.test_backend() == "postgres-s3":
        pg = request.getfixturevalue("postgres_server")
        store = request.getfixturevalue("seaweedfs_server")
        env = scale_out_environment(pg, store, "gclive")
    else:
        env = dict(os.environ)
    env["CARGOHOLD_ACCESS_LOG"] = "true"
    port = free_port()
    cmd = [
        sys.executable, "-m", "cargohold", "serve",
        "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
        "--auth", "none",
    ]  # fmt: skip
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir,
            env=env, start_new_session=True,
        )  # fmt: skip
    reg = Registry(
        kind="cargohold (gc)", host=f"127.0.0.1:{port}", log_path=log_path, process=process
    )
    server = GcServer(reg, data_dir, env, store)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            assert process.poll() is None, f"server exited early\n{server.log_tail()}"
            try:
                if httpx.get(f"{reg.url}/v2/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"server not ready\n{server.log_tail()}"
            time.sleep(0.2)
        yield server
    finally:
        _end(process, signal.SIGTERM)


def _end(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """End a process this module started (and the children in its own process group)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        process.send_signal(sig)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


# --------------------------------------------------------------------------- background processes


@dataclass
class Background:
    """A client or collector run started now and collected later; ended if the test fails."""

    argv: list[str]
    process: subprocess.Popen[bytes]
    out: IO[bytes]
    err: IO[bytes]
    started: float = field(default_factory=time.monotonic)

    def finish(self, timeout: float = STEP_TIMEOUT) -> Proc:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _end(self.process)
            raise AssertionError(f"timed out after {timeout} s: {' '.join(self.argv)}") from None
        return Proc(
            tuple(self.argv), self.process.returncode, self._read(self.out), self._read(self.err)
        )

    @staticmethod
    def _read(fh: IO[bytes]) -> bytes:
        fh.seek(0)
        return fh.read()


StartFn = Callable[[Sequence[str], Mapping[str, str]], Background]


@pytest.fixture
def background() -> Iterator[StartFn]:
    """`background(argv, env)` starts a process in its own group; all are ended after the test."""
    started: list[Background] = []

    def start(argv: Sequence[str], env: Mapping[str, str]) -> Background:
        out = tempfile.TemporaryFile()  # noqa: SIM115 (closed after the test)
        err = tempfile.TemporaryFile()  # noqa: SIM115
        process = subprocess.Popen(
            list(argv), stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=dict(env),
            start_new_session=True,
        )  # fmt: skip
        started.append(Background(list(argv), process, out, err))
        return started[-1]

    try:
        yield start
    finally:
        for job in started:
            _end(job.process)
            job.out.close()
            job.err.close()


def skopeo_argv(skopeo: Skopeo, *args: str) -> list[str]:
    return [tool("skopeo"), "--policy", str(skopeo.config.policy), *args]


def push_argv(skopeo: Skopeo, layout: Path, ref: str, dest: str, digestfile: Path) -> list[str]:
    return skopeo_argv(
        skopeo, "copy", "--dest-tls-verify=false", "--digestfile", str(digestfile),
        f"oci:{layout}:{ref}", f"docker://{dest}",
    )  # fmt: skip


# --------------------------------------------------------------------------- a pausing relay


class PausingProxy:
    """A TCP relay to the server that holds the server's bytes once `limit` of them went
    through, until `resume()`: a pull stays in flight for as long as the test needs."""

    def __init__(self, target_port: int, limit: int) -> None:
        self.target_port = target_port
        self.limit = limit
        self.forwarded = 0
        self.paused = threading.Event()
        self.resumed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            pair = (client, upstream)
            threading.Thread(
                target=self._pump, args=(client, upstream, False, pair), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(upstream, client, True, pair), daemon=True
            ).start()

    def _pump(
        self,
        source: socket.socket,
        sink: socket.socket,
        held: bool,
        pair: tuple[socket.socket, socket.socket],
    ) -> None:
        try:
            while data := source.recv(65536):
                if held and not self.resumed.is_set():
                    with self._lock:
                        self.forwarded += len(data)
                        over = self.forwarded >= self.limit
                    if over:
                        self.paused.set()
                        self.resumed.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def resume(self) -> None:
        self.resumed.set()

    def close(self) -> None:
        self.resumed.set()
        self.listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()


# --------------------------------------------------------------------------- images


@dataclass(frozen=True)
class Layer:
    blob: bytes  # gzip tar
    diff_id: str

    @property
    def digest(self) -> str:
        return sha256_digest(self.blob)


def make_layer(files: Mapping[str, bytes]) -> Layer:
    tar = make_tar(files)
    return Layer(gzip.compress(tar, compresslevel=1, mtime=0), sha256_digest(tar))


def random_layer(size: int, name: str = "data.bin") -> Layer:
    return make_layer({name: os.urandom(size)})


def add_image(layout: OciLayout, ref: str, layers: Sequence[Layer], label: str) -> Image:
    """An image of the given layers in `layout`, tagged `ref` there."""
    config = canonical_json(
        {
            "created": EPOCH,
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"org.example.gc": label}},
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        }
    )
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": layout.add_blob(config, OCI_CONFIG),
            "layers": [layout.add_blob(layer.blob, OCI_LAYER_GZIP) for layer in layers],
        },
        indent=2,
    ).encode()
    descriptor = layout.add_blob(manifest, OCI_MANIFEST)
    layout.tag(ref, descriptor)
    return Image(manifest, descriptor, config, [layer.blob for layer in layers])


def image_blobs(image: Image) -> list[str]:
    """The digests of an image's config and layers."""
    document = json.loads(image.manifest)
    return [document["config"]["digest"], *(layer["digest"] for layer in document["layers"])]


def push(skopeo: Skopeo, server: GcServer, layout: OciLayout, ref: str, dest: str) -> None:
    skopeo(
        "copy", "--dest-tls-verify=false", f"oci:{layout.root}:{ref}",
        f"docker://{server.host}/{dest}",
    )  # fmt: skip


def delete_manifest(http: httpx.Client, name: str, digest: str) -> None:
    resp = http.delete(f"/v2/{name}/manifests/{digest}")
    assert resp.status_code == 202, describe_response(resp)


# --------------------------------------------------------------------------- the rule


def assert_every_tag_pulls(server: GcServer, skopeo: Skopeo) -> int:
    """Every tag of every package pulls with skopeo, and every manifest and blob it names is
    served whole (its bytes hash to its digest). Returns how many tags there were."""
    tags_seen = 0
    with httpx.Client(base_url=server.url, timeout=STEP_TIMEOUT) as http:
        catalog = http.get("/v2/_catalog", params={"n": 1000})
        assert catalog.status_code == 200, describe_response(catalog)
        for name in catalog.json()["repositories"]:
            listed = http.get(f"/v2/{name}/tags/list", params={"n": 1000})
            assert listed.status_code == 200, describe_response(listed)
            for tag in listed.json().get("tags") or []:
                raw = skopeo(
                    "inspect", "--raw", "--tls-verify=false", f"docker://{server.host}/{name}:{tag}"
                )
                served = http.get(
                    f"/v2/{name}/manifests/{tag}", headers={"Accept": ACCEPT_MANIFESTS}
                )
                assert served.status_code == 200, describe_response(served)
                assert served.content == raw.stdout, f"{name}:{tag}: skopeo and GET disagree"
                _assert_whole(http, name, served.content, f"{name}:{tag}")
                tags_seen += 1
    return tags_seen


def _assert_whole(http: httpx.Client, name: str, manifest: bytes, what: str) -> None:
    document = json.loads(manifest)
    for child in document.get("manifests", []):
        got = http.get(f"/v2/{name}/manifests/{child['digest']}", headers={"Accept": "*/*"})
        assert got.status_code == 200, f"{what}: child manifest\n{describe_response(got)}"
        assert sha256_digest(got.content) == child["digest"], what
        _assert_whole(http, name, got.content, f"{what} -> {child['digest']}")
    for blob in [document.get("config"), *document.get("layers", [])]:
        if blob is None or blob.get("urls"):
            continue
        hasher, size = hashlib.sha256(), 0
        with http.stream("GET", f"/v2/{name}/blobs/{blob['digest']}") as got:
            assert got.status_code == 200, f"{what}: blob {blob['digest']} -> {got.status_code}"
            for chunk in got.iter_bytes():
                hasher.update(chunk)
                size += len(chunk)
        assert f"sha256:{hasher.hexdigest()}" == blob["digest"], f"{what}: {blob['digest']} corrupt"
        assert size == blob["size"], (
            f"{what}: {blob['digest']} has {size} bytes, not {blob['size']}"
        )


def gc_blobs_freed(proc: Proc) -> int:
    found = re.search(r"blobs no package links\W+(\d+)", proc.out)
    assert found, f"no summary in the collector's output:\n{proc.describe()}"
    return int(found.group(1))


# --------------------------------------------------------------------------- the races


def test_a_pull_in_flight_completes_while_manifests_sharing_its_layer_are_deleted_and_collected(
    gc_server: GcServer, skopeo: Skopeo, background: StartFn, tmp_path: Path
) -> None:
    """A pulls a 32 MiB layer that B (same package) and C (another package) share with it.
    Mid-transfer, held there by a relay, B is deleted and C is deleted and `cargohold gc
    --grace 0` runs to the end; a second pull, of B itself, is in flight too. Then the bytes
    flow again: A's pull must finish with exactly A's content; B's may fail, but only
    because its own blobs are gone, never with bytes that do not match."""
    big = random_layer(32 * MiB, "big.bin")
    layout = OciLayout(tmp_path / "src")
    image_a = add_image(layout, "a", [big, make_layer({"a.txt": b"a\n"})], "a")
    image_b = add_image(layout, "b", [big, make_layer({"b.txt": b"b\n"})], "b")
    image_c = add_image(layout, "c", [big, make_layer({"c.txt": b"c\n"})], "c")
    push(skopeo, gc_server, layout, "a", "acme/gc-pull:a")
    push(skopeo, gc_server, layout, "b", "acme/gc-pull:b")
    push(skopeo, gc_server, layout, "c", "acme/gc-pull-other:c")
    own_of_b_and_c = [d for d in image_blobs(image_b) + image_blobs(image_c) if d != big.digest]
    assert gc_server.stored(own_of_b_and_c) == own_of_b_and_c

    port = int(gc_server.host.rsplit(":", 1)[1])
    proxy = PausingProxy(port, limit=4 * MiB)
    try:
        pulls = {
            ref: background(
                skopeo_argv(
                    skopeo, "copy", "--src-tls-verify=false",
                    f"docker://127.0.0.1:{proxy.port}/acme/gc-pull:{ref}",
                    f"oci:{tmp_path / ('dst-' + ref)}:{ref}",
                ),
                skopeo.config.env,
            )
            for ref in ("a", "b")
        }  # fmt: skip
        deadline = time.monotonic() + STEP_TIMEOUT
        while not proxy.paused.wait(0.1):
            finished = {ref: job.process.poll() for ref, job in pulls.items()}
            assert None in finished.values(), f"both pulls ended before 4 MiB went: {finished}"
            assert time.monotonic() < deadline, "the pulls never got 4 MiB through"

        with httpx.Client(base_url=gc_server.url, timeout=STEP_TIMEOUT) as http:
            delete_manifest(http, "acme/gc-pull", image_b.digest)
            delete_manifest(http, "acme/gc-pull-other", image_c.digest)
        gc_run = run(gc_server.gc_command(), env=gc_server.env, timeout=STEP_TIMEOUT, check=False)
        assert gc_run.returncode == 0, gc_run.describe() + gc_server.log_tail()
        assert gc_blobs_freed(gc_run) >= len(own_of_b_and_c), gc_run.describe()
        assert pulls["a"].process.poll() is None, "the pull of A was not in flight during the run"
        left = gc_server.stored(own_of_b_and_c)
        assert not left, f"the collector left B's and C's own blobs: {left}"
        assert gc_server.stored([big.digest]), "the collector took the layer A still names"
    finally:
        proxy.resume()

    try:
        pulled_a = pulls["a"].finish()
        pulled_b = pulls["b"].finish()
    finally:
        proxy.close()
    assert pulled_a.returncode == 0, pulled_a.describe() + gc_server.log_tail()
    dst = tmp_path / "dst-a"
    assert layout_ref(dst, "a")["digest"] == image_a.digest
    assert layout_blob(dst, image_a.digest) == image_a.manifest
    assert layout_blob(dst, image_blobs(image_a)[0]) == image_a.config
    for digest, blob in zip(image_blobs(image_a)[1:], image_a.layers, strict=True):
        assert layout_blob(dst, digest) == blob, f"layer {digest} of A pulled wrong"
    if pulled_b.returncode == 0:  # B's blobs all came before the collector ran
        dst_b = tmp_path / "dst-b"
        assert layout_ref(dst_b, "b")["digest"] == image_b.digest
        for digest, blob in zip(image_blobs(image_b)[1:], image_b.layers, strict=True):
            assert layout_blob(dst_b, digest) == blob, f"layer {digest} of B pulled wrong"
    else:
        # B went while its pull waited: its manifest or a blob of it is unknown now.
        gone = re.search(r"blob unknown|manifest unknown|404|not found", pulled_b.err, re.I)
        assert gone, pulled_b.describe()

    with httpx.Client(base_url=gc_server.url, timeout=STEP_TIMEOUT) as http:
        assert http.get("/v2/acme/gc-pull/tags/list").json()["tags"] == ["a"]
    assert assert_every_tag_pulls(gc_server, skopeo) >= 1


PADDING = 80  # packages, each with two garbage blobs a round: the run takes a while
# When each round's pushes start: with the collector (so they look for K while it starts
# up), or this long after it took its lease (negative: before, by the estimate of when it
# will take it; it spends most of a second starting).
PUSH_AT: tuple[float | None, ...] = (None, -0.15, 0.0, 0.05, 0.15)


def _push_padding(http: httpx.Client) -> list[str]:
    """One garbage blob in each of the packages acme/gc-pad-NNN."""

    def one(number: int) -> str:
        data = os.urandom(64)
        digest = sha256_digest(data)
        resp = http.post(
            f"/v2/acme/gc-pad-{number:03d}/blobs/uploads/",
            params={"digest": digest},
            content=data,
        )
        assert resp.status_code == 201, describe_response(resp)
        return digest

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(PADDING)))


@dataclass
class Timeline:
    """One collector run and the pushes racing it, in seconds since the run was started."""

    lease: float | None = None  # when the test first saw the lease held
    pushes: float = 0.0  # when the pushes were started
    ended: float | None = None  # when the test saw the run ended (None: after the pushes)

    def describe(self) -> str:
        lease = "never seen" if self.lease is None else f"seen at {self.lease:.2f}"
        ended = "later" if self.ended is None else f"by {self.ended:.2f}"
        return f"lease {lease}, pushes started at {self.pushes:.2f}, run ended {ended}"


def _race(
    server: GcServer,
    background: StartFn,
    pushes: Mapping[str, list[str]],
    env: Mapping[str, str],
    push_at: float | None,
    lease_estimate: float,
) -> tuple[Background, dict[str, Background], Timeline]:
    """Start the collector and, when `push_at` says (see PUSH_AT), the pushes."""
    timeline = Timeline()
    collector = background(server.gc_command(), server.env)
    started: dict[str, Background] = {}

    def due(now: float) -> bool:
        if push_at is None:
            return True
        if push_at < 0:
            return now >= lease_estimate + push_at
        if timeline.lease is None:
            return timeline.ended is not None  # it was done before the test saw it
        return now >= timeline.lease + push_at

    while not started:
        now = time.monotonic() - collector.started
        assert now < STEP_TIMEOUT, "the collector neither took its lease nor ended"
        if timeline.ended is None and collector.process.poll() is not None:
            timeline.ended = now
        if timeline.lease is None and timeline.ended is None and server.lease_holder():
            timeline.lease = now
        if due(now):
            started = {ref: background(argv, env) for ref, argv in pushes.items()}
            timeline.pushes = time.monotonic() - collector.started
        else:
            time.sleep(0.002)
    while timeline.lease is None and collector.process.poll() is None:
        if server.lease_holder():
            timeline.lease = time.monotonic() - collector.started
        time.sleep(0.002)
    return collector, started, timeline


def test_pushes_that_reupload_or_mount_a_blob_being_swept_leave_every_tag_whole(
    gc_server: GcServer, skopeo: Skopeo, background: StartFn, tmp_path: Path
) -> None:
    """Each round, image G (6 MiB layers L and K) is pushed to acme/gc-race and deleted, and
    L is unlinked from it too: L has no link left, K a link no manifest names. Then, while
    `cargohold gc --grace 0` runs (through 80 other packages and 160 other garbage blobs),
    skopeo pushes R (L and a layer of its own) to acme/gc-race, uploading L again, and M (K
    and its own) to acme/gc-mount, which mounts K from acme/gc-race (where skopeo's blob-info
    cache saw it) if that link is still there when it asks. The pushes start at a different
    moment of the run each round. A push may be refused only because the collector took a
    blob it had found present (MANIFEST_BLOB_UNKNOWN), and must then go through once the run
    is over; after every round every tag of every package pulls whole, and the round's
    garbage is gone from the store."""
    warmup = background(gc_server.gc_command(), gc_server.env)
    while gc_server.lease_holder() is None and warmup.process.poll() is None:
        time.sleep(0.002)
    leases = [time.monotonic() - warmup.started]  # how long the collector takes to start
    assert warmup.finish().returncode == 0
    mounts, retried, during = 0, [], 0
    rounds: list[str] = []
    with httpx.Client(base_url=gc_server.url, timeout=STEP_TIMEOUT) as http:
        for round_, push_at in enumerate(PUSH_AT):
            layout = OciLayout(tmp_path / f"round{round_}")
            layer_l, layer_k = random_layer(6 * MiB), random_layer(6 * MiB)
            own = {ref: make_layer({f"{ref}.txt": f"{ref} {round_}\n".encode()}) for ref in "grm"}
            garbage = add_image(layout, "g", [layer_l, layer_k, own["g"]], f"g{round_}")
            images = {
                "r": add_image(layout, "r", [layer_l, own["r"]], f"r{round_}"),
                "m": add_image(layout, "m", [layer_k, own["m"]], f"m{round_}"),
            }
            dests = {"r": f"acme/gc-race:r{round_}", "m": f"acme/gc-mount:m{round_}"}
            digestfiles = {ref: tmp_path / f"{ref}{round_}.digest" for ref in images}

            padding = _push_padding(http)
            push(skopeo, gc_server, layout, "g", f"acme/gc-race:g{round_}")
            padding += _push_padding(http)
            delete_manifest(http, "acme/gc-race", garbage.digest)
            unlinked = http.delete(f"/v2/acme/gc-race/blobs/{layer_l.digest}")
            assert unlinked.status_code == 202, describe_response(unlinked)

            log_offset = gc_server.log_size()
            argvs = {
                ref: push_argv(skopeo, layout.root, ref, f"{gc_server.host}/{dests[ref]}",
                               digestfiles[ref])
                for ref in images
            }  # fmt: skip
            estimate = min(leases)
            collector, pushes, timeline = _race(
                gc_server, background, argvs, skopeo.config.env, push_at, estimate
            )
            gc_run = collector.finish()
            assert gc_run.returncode == 0, gc_run.describe() + gc_server.log_tail()
            assert gc_blobs_freed(gc_run) >= 2 * PADDING, gc_run.describe()
            if timeline.lease is not None:
                leases.append(timeline.lease)
            for ref, job in pushes.items():
                pushed = job.finish()
                if pushed.returncode != 0:
                    assert BLOB_UNKNOWN.search(pushed.err), (
                        f"round {round_}: push of {ref} failed for another reason\n"
                        + pushed.describe()
                        + gc_server.log_tail()
                    )
                    retried.append((round_, ref))
                    push(skopeo, gc_server, layout, ref, dests[ref])
                else:
                    assert digestfiles[ref].read_text().strip() == images[ref].digest
            log = gc_server.log_since(log_offset)
            mounted = len(re.findall(r'"POST /v2/acme/gc-mount/blobs/uploads/ HTTP/1.1" 201', log))
            mounts += mounted
            held = timeline.lease is not None and timeline.pushes >= timeline.lease
            during += held and timeline.ended is None
            rounds.append(
                f"round {round_} (push at {push_at}): {timeline.describe()}; K mounted:"
                f" {bool(mounted)}; run took {gc_run.out.rsplit('took ', 1)[-1].strip()}"
            )

            # the round's garbage is gone from the store, what the pushes name is whole
            doomed = [*padding, image_blobs(garbage)[0], own["g"].digest]
            left = gc_server.stored(doomed)
            assert not left, f"round {round_}: garbage the run should have taken: {left[:5]}"
            try:
                assert assert_every_tag_pulls(gc_server, skopeo) >= 2 * (round_ + 1)
            except AssertionError as exc:
                raise AssertionError(f"{rounds[-1]}\n{exc}\n{log}") from None
            for ref, image in images.items():
                name, tag = dests[ref].split(":")
                got = http.get(f"/v2/{name}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
                assert got.status_code == 200 and got.content == image.manifest, dests[ref]

    summary = "\n".join([*rounds, f"pushes refused, then pushed again: {retried}"])
    print(summary)
    assert during, f"no push started while the collector held its lease\n{summary}"
    assert mounts >= 1, f"skopeo never mounted K from acme/gc-race\n{summary}"
