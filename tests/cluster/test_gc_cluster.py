"""Online garbage collection on two nodes (PostgreSQL + SeaweedFS, nginx in front).

`cargohold gc --grace 0` runs with each node's settings at the same moment, again and
again, while skopeo pushes through nginx: one collector at a time holds the `gc` lease
(the other says who holds it and exits 1), and afterwards every tag pulls through both
nodes with every digest it names present. What one node pushed, a run with the other
node's settings collects: the state is shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx
import pytest

from cargohold.oci.digest import Digest
from cargohold.storage.paths import BLOBS_PREFIX, blob_key
from tests.cluster.conftest import Cluster, Node
from tests.interop._support import (
    EPOCH,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    OciLayout,
    Proc,
    canonical_json,
    gzip_bytes,
    make_tar,
    run,
    sha256_digest,
    tool,
)

KiB, MiB = 1024, 1024 * 1024
STEP_TIMEOUT = 120.0
ROUNDS = 5
ACCEPT = ", ".join(
    [
        OCI_MANIFEST,
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
BUSY = re.compile(r"garbage collection is already running \(([^)]+)\)")
BLOB_UNKNOWN = re.compile(r"manifest blob unknown", re.I)  # MANIFEST_BLOB_UNKNOWN
LIVE = "acme/gc-cluster-live"  # what the pusher pushes to while the collectors run


# --------------------------------------------------------------------------- clients


@dataclass(frozen=True)
class Skopeo:
    policy: Path
    env: dict[str, str]

    def argv(self, *args: str) -> list[str]:
        return [tool("skopeo"), "--policy", str(self.policy), *args]

    def __call__(self, *args: str, check: bool = True) -> Proc:
        return run(self.argv(*args), timeout=STEP_TIMEOUT, env=self.env, check=check)

    def push(self, layout: Path, ref: str, dest: str, check: bool = True) -> Proc:
        return self(
            "copy", "--dest-tls-verify=false", f"oci:{layout}:{ref}", f"docker://{dest}",
            check=check,
        )  # fmt: skip


@pytest.fixture(scope="module")
def skopeo(tmp_path_factory: pytest.TempPathFactory) -> Skopeo:
    base = tmp_path_factory.mktemp("skopeo")
    policy = base / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    registries = base / "registries.conf"
    registries.write_text('unqualified-search-registries = []\nshort-name-mode = "disabled"\n')
    auth = base / "auth.json"
    auth.write_text(json.dumps({"auths": {}}))
    (base / "tmp").mkdir()
    env = {
        **os.environ,
        "CONTAINERS_REGISTRIES_CONF": str(registries),
        "REGISTRY_AUTH_FILE": str(auth),
        "TMPDIR": str(base / "tmp"),
    }
    return Skopeo(policy, env)


def host_of(url: str) -> str:
    return url.removeprefix("http://")


def node_data_dir(node: Node) -> Path:
    return node.root / f"{node.name}-data"


def gc_argv(node: Node) -> list[str]:
    """`cargohold gc --grace 0` with the node's settings (its environment and data dir)."""
    return [
        sys.executable, "-m", "cargohold", "gc", "--grace", "0", "--quiet",
        "--data-dir", str(node_data_dir(node)),
    ]  # fmt: skip


@dataclass
class Job:
    """A process started now, collected later; ended by the test if still running."""

    process: subprocess.Popen[bytes]
    argv: list[str]
    out: IO[bytes]
    err: IO[bytes]
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    @classmethod
    def start(cls, argv: list[str], env: dict[str, str]) -> Job:
        out = tempfile.TemporaryFile()  # noqa: SIM115 (closed by finish/kill)
        err = tempfile.TemporaryFile()  # noqa: SIM115
        process = subprocess.Popen(
            argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,
        )  # fmt: skip
        return cls(process, argv, out, err)

    def wait(self) -> None:
        """Wait for the exit, noting when it happened (call from a thread of its own)."""
        try:
            self.process.wait(timeout=STEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
        self.ended = time.monotonic()

    def result(self) -> Proc:
        streams = []
        for fh in (self.out, self.err):
            fh.seek(0)
            streams.append(fh.read())
            fh.close()
        return Proc(tuple(self.argv), self.process.returncode, streams[0], streams[1])

    def kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def jobs() -> Iterator[list[Job]]:
    started: list[Job] = []
    try:
        yield started
    finally:
        for job in started:
            job.kill()


# --------------------------------------------------------------------------- images


def add_image(layout: OciLayout, ref: str, layers: Sequence[bytes], label: str) -> list[str]:
    """An image of the given (uncompressed tar) layers, tagged `ref` in the layout; returns
    the digests of its config and layers."""
    blobs = [gzip_bytes(layer) for layer in layers]
    config = canonical_json(
        {
            "created": EPOCH,
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"org.example.gc": label}},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(layer) for layer in layers]},
        }
    )
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": layout.add_blob(config, OCI_CONFIG),
        "layers": [layout.add_blob(blob, OCI_LAYER_GZIP) for blob in blobs],
    }
    manifest = json.dumps(document).encode()
    layout.tag(ref, layout.add_blob(manifest, OCI_MANIFEST))
    return [document["config"]["digest"], *(d["digest"] for d in document["layers"])]


def manifest_digest(layout: OciLayout, ref: str) -> str:
    found = [
        d["digest"]
        for d in json.loads((layout.root / "index.json").read_text())["manifests"]
        if d["annotations"]["org.opencontainers.image.ref.name"] == ref
    ]
    assert len(found) == 1
    return str(found[0])


def stored(cluster: Cluster, digests: Sequence[str]) -> list[str]:
    """Those of `digests` whose bytes are in the object store."""
    prefix = cluster.env["CARGOHOLD_S3_PREFIX"]
    present = set(cluster.store.list_keys(prefix=prefix + BLOBS_PREFIX))
    return [d for d in digests if prefix + blob_key(Digest.parse(d)) in present]


def push_garbage_blobs(cluster: Cluster, count: int, package: str) -> list[str]:
    """Blobs pushed through nginx that no manifest will ever name."""
    digests = []
    with httpx.Client(base_url=cluster.url, timeout=STEP_TIMEOUT) as client:
        for _ in range(count):
            data = os.urandom(256)
            digest = sha256_digest(data)
            resp = client.post(
                f"/v2/{package}/blobs/uploads/", params={"digest": digest}, content=data
            )
            assert resp.status_code == 201, f"{resp.status_code} {resp.text}"
            digests.append(digest)
    return digests


def still_served(cluster: Cluster, name: str, references: Sequence[str]) -> list[str]:
    """What each node, asked directly, still serves of `references` (deleted manifests)."""
    found = []
    for node in cluster.nodes:
        with httpx.Client(base_url=node.url, timeout=STEP_TIMEOUT) as client:
            for reference in references:
                resp = client.get(f"/v2/{name}/manifests/{reference}", headers={"Accept": ACCEPT})
                if resp.status_code != 404:
                    found.append(
                        f"{node.name} answers {resp.status_code} for deleted {name}:{reference}"
                    )
    return found


# --------------------------------------------------------------------------- the rule


def assert_every_tag_pulls(cluster: Cluster, skopeo: Skopeo) -> int:
    """Every tag of every package pulls with skopeo through each node, and every blob it
    names is served whole by each node. Returns how many tags there were."""
    count = 0
    with httpx.Client(base_url=cluster.url, timeout=STEP_TIMEOUT) as lister:
        catalog = lister.get("/v2/_catalog", params={"n": 1000})
        assert catalog.status_code == 200, catalog.text
        packages = catalog.json()["repositories"]
        tags = {
            name: lister.get(f"/v2/{name}/tags/list", params={"n": 1000}).json().get("tags") or []
            for name in packages
        }
    for node in cluster.nodes:
        with httpx.Client(base_url=node.url, timeout=STEP_TIMEOUT) as http:
            for name, names in tags.items():
                for tag in names:
                    raw = skopeo(
                        "inspect", "--raw", "--tls-verify=false",
                        f"docker://{host_of(node.url)}/{name}:{tag}",
                    )  # fmt: skip
                    what = f"{name}:{tag} through {node.name}"
                    served = http.get(f"/v2/{name}/manifests/{tag}", headers={"Accept": ACCEPT})
                    assert served.status_code == 200, f"{what}: {served.text}"
                    assert served.content == raw.stdout, f"{what}: skopeo and GET disagree"
                    document = json.loads(served.content)
                    for blob in [document["config"], *document["layers"]]:
                        hasher = hashlib.sha256()
                        with http.stream("GET", f"/v2/{name}/blobs/{blob['digest']}") as got:
                            assert got.status_code == 200, f"{what}: {blob['digest']} missing"
                            for chunk in got.iter_bytes():
                                hasher.update(chunk)
                        assert f"sha256:{hasher.hexdigest()}" == blob["digest"], what
                    count += 1
    return count


# --------------------------------------------------------------------------- lease watcher


class LeaseWatch:
    """Who holds the `gc` lease, read from PostgreSQL every few ms: each change, in order."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.seen: list[str | None] = []
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LeaseWatch:
        self.thread.start()
        assert self.ready.wait(10), f"cannot watch the lease: {self.error}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        assert self.error is None, self.error

    def _run(self) -> None:
        async def watch() -> None:
            conn = await asyncpg.connect(self.url, timeout=5)
            try:
                self.ready.set()
                while not self.stop.is_set():
                    holder = await conn.fetchval("SELECT holder FROM leases WHERE name = 'gc'")
                    if not self.seen or self.seen[-1] != holder:
                        self.seen.append(holder)
                    await asyncio.sleep(0.002)
            finally:
                await conn.close()

        try:
            asyncio.run(watch())
        except BaseException as exc:
            self.error = exc
            self.ready.set()

    @property
    def holders(self) -> list[str]:
        return [holder for holder in self.seen if holder is not None]


def pid_of(holder: str) -> int:
    """Holders are `host:pid:random` (services/leases.py)."""
    return int(holder.rsplit(":", 2)[-2])


def took(proc: Proc) -> float:
    found = re.search(r"took (\d+\.\d) s", proc.out)
    assert found, proc.describe()
    return float(found.group(1))


# --------------------------------------------------------------------------- a pusher


@dataclass
class Pusher:
    """skopeo pushes through nginx, one after another, until stopped; every third image is
    deleted again by digest (more garbage while the collectors run)."""

    cluster: Cluster
    skopeo: Skopeo
    layout: OciLayout
    refs: list[str]
    pushed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    why: list[str] = field(default_factory=list)  # what skopeo said when refused
    errors: list[str] = field(default_factory=list)
    spans: list[tuple[float, float]] = field(default_factory=list)  # each push: start, end
    stop: threading.Event = field(default_factory=threading.Event)

    def dest(self, ref: str) -> str:
        return f"{host_of(self.cluster.url)}/{LIVE}:{ref}"

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.cluster.url, timeout=STEP_TIMEOUT) as client:
                for number, ref in enumerate(self.refs):
                    if self.stop.is_set():
                        return
                    began = time.monotonic()
                    proc = self.skopeo.push(self.layout.root, ref, self.dest(ref), check=False)
                    self.spans.append((began, time.monotonic()))
                    if proc.returncode != 0:
                        if BLOB_UNKNOWN.search(proc.err):
                            self.refused.append(ref)
                            self.why.append(proc.err.strip().splitlines()[-1])
                        else:
                            self.errors.append(proc.describe())
                        continue
                    self.pushed.append(ref)
                    if number % 3 == 2:
                        digest = manifest_digest(self.layout, ref)
                        resp = client.delete(f"/v2/{LIVE}/manifests/{digest}")
                        if resp.status_code != 202:
                            self.errors.append(f"DELETE {ref}: {resp.status_code} {resp.text}")
                        self.deleted.append(ref)
                        self.errors.extend(still_served(self.cluster, LIVE, [ref, digest]))
                    time.sleep(0.2)
        except BaseException as exc:
            self.errors.append(repr(exc))


# --------------------------------------------------------------------------- the tests


def test_collections_started_on_both_nodes_at_once_never_both_hold_the_lease(
    cluster: Cluster, skopeo: Skopeo, jobs: list[Job], tmp_path: Path
) -> None:
    """ROUNDS times: garbage is pushed through nginx, then `cargohold gc --grace 0` starts
    with node1's and node2's settings at the same moment, while skopeo keeps pushing (and
    deleting) through nginx. Either one run collects and the other exits 1 naming the
    first's lease (host:pid:random, its pid that of the other run), or, when one was done
    before the other began, both collect one after the other. The lease is never seen held
    by anyone else, nor by the run that was refused. The round's garbage is gone from the
    store; at the end every tag pulls through both nodes, every digest whole."""
    layout = OciLayout(tmp_path / "images")
    base = make_tar({"base.bin": os.urandom(1 * MiB)})
    refs = [f"p{number:02d}" for number in range(40)]
    for ref in refs:
        add_image(layout, ref, [base, make_tar({f"{ref}.bin": os.urandom(128 * KiB)})], ref)
    pusher = Pusher(cluster, skopeo, layout, refs)
    pushing = threading.Thread(target=pusher.run, daemon=True)
    pushing.start()

    outcomes: list[str] = []
    busy_rounds = 0
    runs: list[tuple[float, float]] = []  # each pair of collections: start, end
    try:
        for round_ in range(ROUNDS):
            garbage = push_garbage_blobs(cluster, 40, f"acme/gc-cluster-garbage{round_ % 2}")
            assert stored(cluster, garbage) == garbage
            with LeaseWatch(cluster.database_url) as watch:
                pair = [Job.start(gc_argv(node), node.env) for node in cluster.nodes]
                jobs.extend(pair)
                waiters = [threading.Thread(target=job.wait) for job in pair]
                for waiter in waiters:
                    waiter.start()
                for waiter in waiters:
                    waiter.join(STEP_TIMEOUT + 10)
            runs.append((pair[0].started, max(job.ended or 0.0 for job in pair)))
            results = [job.result() for job in pair]
            pids = [job.process.pid for job in pair]
            codes = [proc.returncode for proc in results]
            report = "\n\n".join(proc.describe() for proc in results) + f"\nlease: {watch.seen}"
            outcomes.append(f"round {round_}: exit {codes}, lease holders seen {watch.holders}")

            assert set(codes) <= {0, 1} and 0 in codes, report + "\n" + cluster.logs()
            for holder in watch.holders:
                assert pid_of(holder) in pids, f"someone else held the lease\n{report}"
            assert len(set(watch.holders)) == len(watch.holders), f"a holder came back\n{report}"
            if 1 in codes:
                busy_rounds += 1
                refused, collector = (1, 0) if codes[1] == 1 else (0, 1)
                named = BUSY.search(results[refused].err)
                assert named, f"the refused run does not say who holds the lease\n{report}"
                assert pid_of(named.group(1)) == pids[collector], (
                    f"the refused run names {named.group(1)}, not the other run\n{report}"
                )
                assert all(pid_of(h) == pids[collector] for h in watch.holders), (
                    f"the refused run held the lease\n{report}"
                )
                assert named.group(1) in watch.holders, f"a holder nobody saw\n{report}"
                assert "Garbage collection summary" in results[collector].out, report
            else:  # one after the other: the later run's collection began after the first's end
                first, second = sorted(range(2), key=lambda i: pair[i].ended or 0.0)
                first_end, second_end = pair[first].ended, pair[second].ended
                assert first_end is not None and second_end is not None
                second_began = second_end - took(results[second])
                assert second_began > first_end - 1.0, f"both runs collected at once\n{report}"
            left = stored(cluster, garbage)
            assert not left, f"round {round_}: the run left {len(left)} garbage blobs\n{report}"
    finally:
        pusher.stop.set()
        pushing.join(STEP_TIMEOUT)

    summary = "\n".join(outcomes)
    assert not pusher.errors, "\n\n".join(pusher.errors)
    for ref in pusher.refused:  # refused for a blob the collector took: goes through now
        skopeo.push(layout.root, ref, pusher.dest(ref))
    raced = sum(1 for began, ended in pusher.spans if any(s < ended and began < e for s, e in runs))
    assert raced, f"no push went on while the collectors ran\n{summary}"
    assert busy_rounds >= 1, (
        f"no round had one run refused (never overlapping, or both took the lease)\n{summary}"
    )
    tags = assert_every_tag_pulls(cluster, skopeo)
    kept = sorted(set(pusher.pushed) - set(pusher.deleted) | set(pusher.refused))
    assert tags >= 2 * len(kept), f"{tags} tag pulls for {len(kept)} images kept\n{summary}"
    with httpx.Client(base_url=cluster.url, timeout=STEP_TIMEOUT) as client:
        listed = client.get(f"/v2/{LIVE}/tags/list", params={"n": 1000}).json()["tags"]
    assert listed == kept, f"the tags left are not those pushed and not deleted\n{summary}"
    print(summary, f"\npushed {len(pusher.pushed)}, {raced} of them during a run")
    print("refused, then pushed again:", *zip(pusher.refused, pusher.why, strict=True), sep="\n")


@pytest.mark.parametrize(("pushed_to", "collected_by"), [(0, 1), (1, 0)], ids=["1to2", "2to1"])
def test_garbage_pushed_through_one_node_is_collected_by_a_run_with_the_others_settings(
    cluster: Cluster, skopeo: Skopeo, tmp_path: Path, pushed_to: int, collected_by: int
) -> None:
    """An image pushed through one node shares a layer with one that is deleted there; a
    `cargohold gc --grace 0` with the other node's settings collects the deleted one's own
    blobs from the shared store, keeps the shared layer, and both nodes agree."""
    pusher, collector = cluster.nodes[pushed_to], cluster.nodes[collected_by]
    name = f"acme/gc-cluster-shared-{pusher.name}"
    layout = OciLayout(tmp_path / "images")
    base = make_tar({"base.bin": os.urandom(2 * MiB)})
    kept = add_image(layout, "kept", [base, make_tar({"kept.bin": os.urandom(64 * KiB)})], "k")
    doomed = add_image(
        layout, "doomed", [base, make_tar({"doomed.bin": os.urandom(64 * KiB)})], "d"
    )
    for ref in ("kept", "doomed"):
        skopeo.push(layout.root, ref, f"{host_of(pusher.url)}/{name}:{ref}")
    own = [digest for digest in doomed if digest not in kept]
    assert len(own) == 2 and stored(cluster, own) == own
    with httpx.Client(base_url=pusher.url, timeout=STEP_TIMEOUT) as client:
        resp = client.delete(f"/v2/{name}/manifests/{manifest_digest(layout, 'doomed')}")
        assert resp.status_code == 202, resp.text
    doomed_refs = ["doomed", manifest_digest(layout, "doomed")]
    assert still_served(cluster, name, doomed_refs) == []

    collected = run(gc_argv(collector), timeout=STEP_TIMEOUT, env=collector.env)
    freed = re.search(r"blobs no package links\W+(\d+)", collected.out)
    assert freed and int(freed.group(1)) >= 2, collected.describe()

    assert stored(cluster, own) == [], f"{collector.name}'s run left the deleted image's blobs"
    assert stored(cluster, kept) == kept, f"{collector.name}'s run took blobs a tag names"
    for node in cluster.nodes:
        with httpx.Client(base_url=node.url, timeout=STEP_TIMEOUT) as client:
            tags = client.get(f"/v2/{name}/tags/list").json()["tags"]
            assert tags == ["kept"], (node.name, tags)
            for digest in own:
                assert client.get(f"/v2/{name}/blobs/{digest}").status_code == 404, node.name
            for digest in kept:
                got = client.get(f"/v2/{name}/blobs/{digest}")
                assert got.status_code == 200, (node.name, digest)
                assert sha256_digest(got.content) == digest, (node.name, digest)
            raw = skopeo(
                "inspect",
                "--raw",
                "--tls-verify=false",
                f"docker://{host_of(node.url)}/{name}:kept",
            )
            assert sha256_digest(raw.stdout) == manifest_digest(layout, "kept"), node.name
