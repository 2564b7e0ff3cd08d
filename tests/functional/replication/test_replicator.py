"""Pushes reach the remote registry complete, byte for byte: a multi-arch image (an index and
its platform images) with a signature that refers to it, at distribution 2.8.2 with htpasswd
and at a Cargohold speaking the token flow; a remote that is down is tried again with
back-off until it is back."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cargohold.oci import mediatypes
from tests.functional.api.people import Api, email
from tests.functional.registry import (
    Image,
    Registry,
    descriptor,
    digest_of,
    image_manifest,
    index_manifest,
    random_blob,
)
from tests.functional.replication.conftest import Replicating, create, jobs
from tests.remote_registries import Distribution, remote_get, token_cargohold

SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
ACCEPT = ", ".join(sorted(mediatypes.MANIFESTS))


@dataclass
class Pushed:
    index: Image
    platforms: list[Image]
    signature: Image

    @property
    def manifests(self) -> list[Image]:
        return [*self.platforms, self.index, self.signature]


async def push_signed_multi_arch(api: Api, name: str, tag: str) -> Pushed:
    """An index of two platform images, pushed by tag, and a signature of it (a manifest
    whose subject is the index, as `oras attach` or cosign push), through /v2 as owner@."""
    credentials = f"{email('owner')}:{await api.token('owner')}"
    auth = {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
    async with httpx.AsyncClient(
        transport=api.transport, base_url=api.client.base_url, headers=auth
    ) as client:
        registry = Registry(client, api.context)
        platforms = [
            image_manifest([random_blob(2048), random_blob(300)], config=config)
            for config in (
                b'{"architecture":"amd64","os":"linux"}',
                b'{"architecture":"arm64","os":"linux"}',
            )
        ]
        for image in platforms:
            await registry.push_image(name, image.digest, image)
        index = index_manifest(platforms)
        await registry.push_image(name, tag, index)
        signature = image_manifest(
            [b'{"critical":{"image":{"docker-manifest-digest":"' + index.digest.encode() + b'"}}}'],
            config=b"{}",
            config_media_type=mediatypes.OCI_EMPTY,
            artifact_type=SIGNATURE,
            subject=descriptor(index.media_type, index.manifest),
        )
        await registry.push_image(name, signature.digest, signature)
    return Pushed(index, platforms, signature)


def assert_arrived(url: str, name: str, auth: tuple[str, str], pushed: Pushed, tag: str) -> None:
    """Every manifest (by digest, and the tag) and every blob is at the remote, byte for
    byte."""
    by_tag = remote_get(url, f"/v2/{name}/manifests/{tag}", auth, ACCEPT)
    assert by_tag.status_code == 200, by_tag.text
    assert by_tag.content == pushed.index.manifest
    for image in pushed.manifests:
        found = remote_get(url, f"/v2/{name}/manifests/{image.digest}", auth, ACCEPT)
        assert found.status_code == 200, found.text
        assert found.content == image.manifest
        assert found.headers["docker-content-digest"] == image.digest
        for blob in image.blobs:
            got = remote_get(url, f"/v2/{name}/blobs/{digest_of(blob)}", auth)
            assert got.status_code == 200, got.text
            assert got.content == blob


async def all_done(api: Api, rule: int, count: int) -> bool:
    found = await jobs(api, rule)
    return len(found) >= count and all(job["state"] == "done" for job in found)


async def test_a_signed_multi_arch_image_arrives_complete_at_distribution(
    api: Api, remote: Distribution, replicating: Replicating
) -> None:
    user, password = remote.auth
    rule = await create(api, url=remote.url, prefix="mirror", username=user, password=password)
    pushed = await push_signed_multi_arch(api, "acme/web/api", "v1")
    # One job per push: the two platform images, the index (by tag), the signature.
    await replicating.until(lambda: all_done(api, rule["id"], 4))
    assert_arrived(remote.url, "mirror/web/api", remote.auth, pushed, "v1")
    # distribution 2.8.2 has no referrers API: the signature is listed under the subject's
    # tag of the referrers tag schema, where oras and cosign look.
    hexa = pushed.index.digest.removeprefix("sha256:")
    listed = remote_get(
        remote.url, f"/v2/mirror/web/api/manifests/sha256-{hexa}", remote.auth, ACCEPT
    )
    assert listed.status_code == 200, listed.text
    [entry] = listed.json()["manifests"]
    assert (entry["digest"], entry["artifactType"]) == (pushed.signature.digest, SIGNATURE)
    shown = (await api.get(f"/workspaces/acme/replications/{rule['id']}", "owner")).json()
    assert shown["last_success_at"] is not None
    assert shown["jobs"] == {"pending": 0, "done": 4, "failed": 0}


async def test_a_signed_multi_arch_image_arrives_complete_at_a_cargohold_with_token_auth(
    api: Api, replicating: Replicating, tmp_path: Path
) -> None:
    with token_cargohold(tmp_path / "remote", "backup", ["backup/web/api"]) as remote:
        rule = await create(
            api,
            url=remote.url,
            package="web/api",
            prefix="backup",
            username=remote.username,
            password=remote.password,
        )
        pushed = await push_signed_multi_arch(api, "acme/web/api", "v1")
        await replicating.until(lambda: all_done(api, rule["id"], 4))
        assert_arrived(remote.url, "backup/web/api", remote.auth, pushed, "v1")
        # This remote has the referrers API: it lists the signature itself.
        path = f"/v2/backup/web/api/referrers/{pushed.index.digest}"
        referrers = remote_get(remote.url, path, remote.auth)
        assert referrers.status_code == 200, referrers.text
        assert [d["digest"] for d in referrers.json()["manifests"]] == [pushed.signature.digest]


async def test_jobs_retry_with_back_off_while_the_remote_is_down_and_complete_after(
    api: Api, remote: Distribution, replicating: Replicating
) -> None:
    user, password = remote.auth
    rule = await create(api, url=remote.url, prefix="mirror", username=user, password=password)
    remote.stop()
    pushed = await push_signed_multi_arch(api, "acme/web/api", "v1")
    await replicating.rounds(3)
    [*_, first] = await jobs(api, rule["id"])  # newest first: the oldest job is last
    assert (first["state"], first["attempts"]) == ("pending", 1)
    assert "connection refused" in first["error"]
    shown = (await api.get(f"/workspaces/acme/replications/{rule['id']}", "owner")).json()
    assert "connection refused" in shown["last_error"]
    assert shown["retry_at"] is not None and shown["last_success_at"] is None
    # While the rule backs off nothing is tried; once it is due, the next attempt fails too.
    assert all(job["attempts"] == 0 for job in (await jobs(api, rule["id"]))[:-1])
    replicating.clock.advance(31)
    await replicating.rounds(2)
    [*_, again] = await jobs(api, rule["id"])
    assert (again["state"], again["attempts"]) == ("pending", 2)
    remote.start()
    replicating.clock.advance(61)
    await replicating.until(lambda: all_done(api, rule["id"], 4))
    assert_arrived(remote.url, "mirror/web/api", remote.auth, pushed, "v1")


async def test_a_refused_password_fails_the_job_at_once_with_the_reason(
    api: Api, remote: Distribution, replicating: Replicating
) -> None:
    rule = await create(api, url=remote.url, username=remote.username, password="not-the-password")
    await api.push("acme/web/api", "v1")

    async def failed() -> bool:
        return [job["state"] for job in await jobs(api, rule["id"])] == ["failed"]

    await replicating.until(failed)
    [job] = await jobs(api, rule["id"])
    assert job["attempts"] == 1
    assert "401" in job["error"]
    assert "not-the-password" not in json.dumps(await jobs(api, rule["id"]))


@pytest.mark.settings(replication_chunk_size=64 * 1024)
async def test_a_blob_larger_than_a_chunk_is_sent_in_chunks_and_arrives_whole(
    api: Api, remote: Distribution, replicating: Replicating
) -> None:
    user, password = remote.auth
    rule = await create(api, url=remote.url, username=user, password=password)
    layer = random_blob(200 * 1024 + 17)  # three full chunks and a short one
    image = image_manifest([layer])
    credentials = f"{email('owner')}:{await api.token('owner')}"
    auth = {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
    async with httpx.AsyncClient(
        transport=api.transport, base_url=api.client.base_url, headers=auth
    ) as client:
        await Registry(client, api.context).push_image("acme/web/api", "big", image)
    await replicating.until(lambda: all_done(api, rule["id"], 1))
    got = remote_get(remote.url, f"/v2/web/api/blobs/{digest_of(layer)}", remote.auth)
    assert got.content == layer
    log = (remote.workdir / "registry.log").read_text()
    assert len(re.findall(r'"PATCH /v2/web/api/blobs/uploads/', log)) == 4


async def test_what_the_remote_has_is_not_sent_again(
    api: Api, remote: Distribution, replicating: Replicating
) -> None:
    user, password = remote.auth
    rule = await create(api, url=remote.url, username=user, password=password)
    await push_signed_multi_arch(api, "acme/web/api", "v1")
    await replicating.until(lambda: all_done(api, rule["id"], 4))
    signature, index, *_ = await jobs(api, rule["id"])  # newest first
    # The index's job copied its referrer along (it was pushed by then): nothing was left
    # for the signature's own job to send.
    assert (index["tag"], signature["tag"], signature["copied"]) == ("v1", None, 0)
    # The same index under a second tag: the remote has it all, only the tag is sent.
    [row] = await api.rows("SELECT payload FROM manifests WHERE digest = :d", d=index["digest"])
    credentials = f"{email('owner')}:{await api.token('owner')}"
    auth = {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
    async with httpx.AsyncClient(
        transport=api.transport, base_url=api.client.base_url, headers=auth
    ) as client:
        put = await client.put(
            "/v2/acme/web/api/manifests/stable",
            content=bytes(row["payload"]),
            headers={"Content-Type": mediatypes.OCI_INDEX},
        )
        assert put.status_code == 201, put.text
    await replicating.until(lambda: all_done(api, rule["id"], 5))
    [latest, *_] = await jobs(api, rule["id"])
    assert (latest["tag"], latest["copied"]) == ("stable", 1)


async def test_a_rule_another_node_holds_is_left_to_it_until_its_lease_runs_out(
    api: Api, remote: Distribution, replicating: Replicating
) -> None:
    user, password = remote.auth
    rule = await create(api, url=remote.url, username=user, password=password)
    await api.push("acme/web/api", "v1")
    until = replicating.clock() + 60
    async with api.context.db.transaction() as tx:
        await tx.execute(
            "UPDATE replications SET lease_holder = 'another-node', lease_until = :u",
            {"u": until},
        )
    await replicating.rounds(3)
    [job] = await jobs(api, rule["id"])
    assert (job["state"], job["attempts"]) == ("pending", 0)  # queued here, not copied
    replicating.clock.advance(61)  # the other node stopped renewing: its lease ran out
    await replicating.until(lambda: all_done(api, rule["id"], 1))
    [row] = await api.rows("SELECT lease_holder FROM replications")
    assert row["lease_holder"] is None  # given back after the round


async def test_an_old_job_tried_again_never_moves_the_tag_back_at_the_remote(
    api: Api, remote: Distribution, replicating: Replicating
) -> None:
    user, password = remote.auth
    rule = await create(api, url=remote.url, username=user, password="not-the-password")
    older = await api.push("acme/web/api", "v1")
    await replicating.until(lambda: _states(api, rule["id"], ["failed"]))
    here = f"/workspaces/acme/replications/{rule['id']}"
    credentials = {"username": user, "password": password}
    assert (await api.patch(here, "owner", json=credentials)).status_code == 200
    newer = await api.push("acme/web/api", "v1")  # the tag moves here: a second job
    await replicating.until(lambda: _states(api, rule["id"], ["done", "failed"]))

    _, failed = await jobs(api, rule["id"])
    retried = await api.post(f"{here}/jobs/{failed['id']}/retry", "owner")
    assert retried.status_code == 202, retried.text
    await replicating.until(lambda: _states(api, rule["id"], ["done", "done"]))

    tagged = remote_get(remote.url, "/v2/web/api/manifests/v1", remote.auth, ACCEPT)
    assert tagged.headers["docker-content-digest"] == newer, "the tag stays on the newer push"
    kept = remote_get(remote.url, f"/v2/web/api/manifests/{older}", remote.auth, ACCEPT)
    assert kept.status_code == 200, "the older image is copied, by digest"


async def _states(api: Api, rule: int, states: list[str]) -> bool:
    return [job["state"] for job in await jobs(api, rule)] == states
