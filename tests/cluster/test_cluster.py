"""Two nodes, one PostgreSQL, one SeaweedFS, nginx in front: nothing a node needs lives only
in the other node, and a bad day (a node killed, the store gone) ends by itself."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cargohold.config import Settings
from cargohold.services.context import open_context
from cargohold.services.registry.uploads import sweep_expired_uploads
from tests.cluster.conftest import Cluster

MiB = 1024 * 1024
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def describe(response: httpx.Response) -> str:
    request = response.request
    return f"{request.method} {request.url} -> {response.status_code} {response.text[:300]}"


def push_blob(client: httpx.Client, name: str, data: bytes) -> str:
    digest = digest_of(data)
    response = client.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=data)
    assert response.status_code == 201, describe(response)
    return digest


def image(label: str) -> tuple[bytes, list[bytes]]:
    config = json.dumps({"architecture": "amd64", "os": "linux", "label": label}).encode()
    layer = os.urandom(2048)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": digest_of(config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": digest_of(layer),
                "size": len(layer),
            }
        ],
    }
    return json.dumps(manifest).encode(), [config, layer]


def push_image(client: httpx.Client, name: str, tag: str, label: str) -> str:
    manifest, blobs = image(label)
    for blob in blobs:
        push_blob(client, name, blob)
    response = client.put(
        f"/v2/{name}/manifests/{tag}", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 201, describe(response)
    return digest_of(manifest)


def test_a_chunked_upload_alternates_between_nodes(cluster: Cluster) -> None:
    data = os.urandom(13 * MiB + 777)
    cuts = [0, 6 * MiB + 1, 6 * MiB + 2, 12 * MiB, len(data)]  # parts, a tail, a 1-byte chunk
    served_by = []
    with httpx.Client(base_url=cluster.url, timeout=60) as client:
        start = client.post("/v2/acme/chunked/blobs/uploads/")
        assert start.status_code == 202, describe(start)
        served_by.append(start.headers["x-upstream"])
        location = start.headers["location"]
        for begin, end in itertools.pairwise(cuts):
            response = client.patch(
                location,
                content=data[begin:end],
                headers={"Content-Range": f"{begin}-{end - 1}"},
            )
            assert response.status_code == 202, describe(response)
            assert response.headers["range"] == f"0-{end - 1}"
            served_by.append(response.headers["x-upstream"])
            location = response.headers["location"]
        done = client.put(location, params={"digest": digest_of(data)})
        assert done.status_code == 201, describe(done)
        served_by.append(done.headers["x-upstream"])

    assert len(set(served_by)) == 2, served_by  # both nodes took part
    assert all(a != b for a, b in itertools.pairwise(served_by)), served_by
    for node in cluster.nodes:
        pulled = httpx.get(f"{node.url}/v2/acme/chunked/blobs/{digest_of(data)}", timeout=60)
        assert pulled.status_code == 200 and pulled.content == data, node.name
    assert cluster.store.list_keys(prefix="cluster-") and not [
        key for key in cluster.store.list_keys() if ".upload/" in key
    ]


def test_push_through_one_node_pull_through_the_other(cluster: Cluster) -> None:
    one, two = cluster.nodes
    with httpx.Client(base_url=one.url, timeout=30) as pusher:
        digest = push_image(pusher, "acme/web", "v1", "pull-through")
    with httpx.Client(base_url=two.url, timeout=30) as puller:
        manifest = puller.get("/v2/acme/web/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert manifest.status_code == 200, describe(manifest)
        assert manifest.headers["docker-content-digest"] == digest
        for layer in [
            json.loads(manifest.content)["config"],
            *json.loads(manifest.content)["layers"],
        ]:
            blob = puller.get(f"/v2/acme/web/blobs/{layer['digest']}")
            assert blob.status_code == 200 and digest_of(blob.content) == layer["digest"]
        ranged = puller.get(
            f"/v2/acme/web/blobs/{json.loads(manifest.content)['layers'][0]['digest']}",
            headers={"Range": "bytes=10-19"},
        )
        assert ranged.status_code == 206 and len(ranged.content) == 10


def test_concurrent_pushes_of_one_tag_end_with_one_consistent_winner(cluster: Cluster) -> None:
    def push(tag: str, label: str, pushed: list[str], errors: list[BaseException]) -> None:
        try:
            with httpx.Client(base_url=cluster.url, timeout=60) as client:
                pushed.append(push_image(client, "acme/race", tag, label))
        except BaseException as exc:  # reported below
            errors.append(exc)

    for round_ in range(3):
        tag = f"race{round_}"
        pushed: list[str] = []
        errors: list[BaseException] = []
        threads = [
            threading.Thread(target=push, args=(tag, f"{tag}-{i}", pushed, errors))
            for i in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        assert len(pushed) == 6
        answers = set()
        for node in cluster.nodes:
            with httpx.Client(base_url=node.url, timeout=30) as client:
                got = client.get(f"/v2/acme/race/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
                assert got.status_code == 200
                answers.add(got.headers["docker-content-digest"])
                assert digest_of(got.content) == got.headers["docker-content-digest"]
                tags = client.get("/v2/acme/race/tags/list").json()["tags"]
                assert tags.count(tag) == 1
                for digest in pushed:  # every manifest pushed is there by digest
                    assert client.head(f"/v2/acme/race/manifests/{digest}").status_code == 200
        assert len(answers) == 1 and answers <= set(pushed)


def _body(
    data: bytes, chunk: int, sent: list[int], gate: threading.Event | None
) -> Iterator[bytes]:
    for start in range(0, len(data), chunk):
        if gate is not None and start >= len(data) // 4:
            gate.set()  # a quarter is on its way: the node may die now
            time.sleep(0.5)
        sent[0] += len(data[start : start + chunk])
        yield data[start : start + chunk]


def test_a_node_killed_mid_upload_leaves_a_session_the_other_finishes(cluster: Cluster) -> None:
    one, two = cluster.nodes
    data = os.urandom(200 * MiB)
    first, rest = 70 * MiB + 12345, data[70 * MiB + 12345 :]
    with httpx.Client(base_url=one.url, timeout=120) as client:
        start = client.post("/v2/acme/big/blobs/uploads/")
        location = start.headers["location"]
        patched = client.patch(
            location, content=data[:first], headers={"Content-Range": f"0-{first - 1}"}
        )
        assert patched.status_code == 202, describe(patched)

    gate = threading.Event()
    sent = [0]
    outcome: list[object] = []

    def doomed_patch() -> None:
        try:
            with httpx.Client(base_url=one.url, timeout=120) as client:
                outcome.append(client.patch(location, content=_body(rest, MiB, sent, gate)))
        except httpx.HTTPError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=doomed_patch)
    worker.start()
    assert gate.wait(60)
    one.kill()
    worker.join(60)
    assert outcome and isinstance(outcome[0], httpx.HTTPError), outcome  # cut off mid-body
    assert 0 < sent[0] < len(rest)

    with httpx.Client(base_url=two.url, timeout=300) as client:
        status = client.get(location)
        assert status.status_code == 204, describe(status)
        assert status.headers["range"] == f"0-{first - 1}"  # the half-sent chunk never counted
        resumed = client.patch(
            location, content=rest, headers={"Content-Range": f"{first}-{len(data) - 1}"}
        )
        assert resumed.status_code == 202, describe(resumed)
        done = client.put(resumed.headers["location"], params={"digest": digest_of(data)})
        assert done.status_code == 201, describe(done)
        hasher = hashlib.sha256()
        with client.stream("GET", f"/v2/acme/big/blobs/{digest_of(data)}") as pulled:
            assert pulled.status_code == 200
            for chunk in pulled.iter_bytes():
                hasher.update(chunk)
        assert "sha256:" + hasher.hexdigest() == digest_of(data)
    one.start()


def test_an_abandoned_session_expires_cleanly(cluster: Cluster) -> None:
    one = cluster.nodes[0]
    with httpx.Client(base_url=one.url, timeout=60) as client:
        start = client.post("/v2/acme/abandoned/blobs/uploads/")
        location = start.headers["location"]
        data = os.urandom(6 * MiB)
        patched = client.patch(
            location, content=data, headers={"Content-Range": f"0-{len(data) - 1}"}
        )
        assert patched.status_code == 202
    upload_id = location.rsplit("/", 1)[1]
    assert [key for key in cluster.store.list_keys() if upload_id in key]

    async def sweep() -> int:
        fields = {f"CARGOHOLD_{name.upper()}": name for name in Settings.model_fields}
        env = {fields[k]: v for k, v in cluster.env.items() if k in fields}
        settings = Settings(**{**env, "auth": "none", "upload_idle_expiry": 1})
        ctx = open_context(settings)
        try:
            await asyncio.sleep(1.1)
            return await sweep_expired_uploads(ctx)
        finally:
            await ctx.close()

    assert asyncio.run(sweep()) >= 1
    assert not [key for key in cluster.store.list_keys() if upload_id in key]
    gone = httpx.get(f"{cluster.nodes[1].url}{location}", timeout=30)
    assert gone.status_code == 404 and gone.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"


def test_the_store_going_away_gives_503s_then_service_resumes(cluster: Cluster) -> None:
    with httpx.Client(base_url=cluster.url, timeout=60) as client:
        digest = push_image(client, "acme/outage", "v1", "before the outage")
        layer = json.loads(
            client.get("/v2/acme/outage/manifests/v1", headers={"Accept": OCI_MANIFEST}).content
        )["layers"][0]["digest"]
        cluster.store.stop()
        try:
            started = time.monotonic()
            blob = client.get(f"/v2/acme/outage/blobs/{layer}")
            upload = client.post("/v2/acme/outage/blobs/uploads/")
            assert time.monotonic() - started < 10
            for response in (blob, upload):
                assert response.status_code == 503, describe(response)
                error = response.json()["errors"][0]
                assert error["code"] == "UNAVAILABLE" and error["detail"] == {
                    "component": "storage"
                }
            manifest = client.get("/v2/acme/outage/manifests/v1", headers={"Accept": OCI_MANIFEST})
            assert manifest.status_code == 200  # metadata alone still answers
            for node in cluster.nodes:
                ready = httpx.get(f"{node.url}/readyz", timeout=30)
                assert ready.status_code == 503
                assert ready.json()["checks"]["storage"]["ok"] is False
                assert ready.json()["checks"]["database"] == {"ok": True}
                assert httpx.get(f"{node.url}/healthz", timeout=30).status_code == 200
        finally:
            cluster.store.start()

        deadline = time.monotonic() + 60
        while not all(
            httpx.get(f"{node.url}/readyz", timeout=30).status_code == 200 for node in cluster.nodes
        ):
            assert time.monotonic() < deadline, "nodes did not recover"
            time.sleep(0.5)
        assert client.get(f"/v2/acme/outage/blobs/{layer}").status_code == 200
        assert push_image(client, "acme/outage", "v2", "after the outage") != digest


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cargohold", *args],
        env=env,
        input=stdin.encode() if stdin is not None else None,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"cargohold {' '.join(args)}: {done.stderr.decode()}"
    return done.stdout.decode().strip()


def test_with_token_auth_a_token_from_one_node_works_on_the_other(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Both nodes sign with one shared key: the token /token gave (through nginx, from either
    node) is good on every node, and the realm names the proxy, not a node."""
    key = tmp_path / "signing-key.pem"
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    env = {**cluster.env, "CARGOHOLD_AUTH": "token", "CARGOHOLD_SIGNING_KEY_FILE": str(key)}
    email = "ops@example.com"
    _cli(env, "user", "create", email, "--admin", "--password-stdin", stdin="correct horse 1\n")
    _cli(env, "workspace", "create", "secure", "--owner", email)
    _cli(env, "project", "create", "secure", "OPS")
    _cli(env, "repo", "create", "secure/app", "--project", "OPS")
    _cli(env, "package", "create", "secure/app", "--repo", "app")
    api_token = _cli(env, "token", "create", email, "--name", "ci", "--scope", "admin:package")
    for node in cluster.nodes:
        node.stop()
        node.env = env
        node.start()

    with httpx.Client(base_url=cluster.url, timeout=60) as client:
        challenge = client.get("/v2/")
        assert challenge.status_code == 401
        realm = f"{cluster.url}/token"
        assert f'realm="{realm}"' in challenge.headers["www-authenticate"]
        issued = client.get(
            realm,
            params={"service": "cargohold", "scope": "repository:secure/app:pull,push"},
            auth=(email, api_token),
        )
        assert issued.status_code == 200, describe(issued)
        bearer = {"Authorization": f"Bearer {issued.json()['token']}"}
        client.headers.update(bearer)
        served_by = set()
        digest = push_image(client, "secure/app", "v1", "behind auth")
        for _ in range(4):
            answer = client.get("/v2/secure/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
            assert answer.status_code == 200, describe(answer)
            served_by.add(answer.headers["x-upstream"])
        assert len(served_by) == 2
    for node in cluster.nodes:
        pulled = httpx.get(
            f"{node.url}/v2/secure/app/manifests/v1", headers={**bearer, "Accept": OCI_MANIFEST}
        )
        assert pulled.status_code == 200 and pulled.headers["docker-content-digest"] == digest
        anonymous = httpx.get(f"{node.url}/v2/secure/app/manifests/v1")
        assert anonymous.status_code == 401
