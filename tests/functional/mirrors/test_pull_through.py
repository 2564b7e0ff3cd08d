"""The pull-through cache on /v2 (docs/mirror.md), against distribution 2.8.2 with htpasswd on
127.0.0.1 as the upstream, through a proxy that counts what reaches it."""

from __future__ import annotations

import asyncio
import hashlib
import json

import httpx
import pytest

from cargohold.oci.digest import Digest
from cargohold.services.registry import pull_through
from tests.functional.api.people import Api
from tests.functional.mirrors.conftest import ACCEPT, Proxy, make_mirror, pull, push_upstream
from tests.functional.registry import error_code, image_manifest, index_manifest, random_blob
from tests.functional.webhooks.conftest import basic
from tests.remote_registries import Distribution

MIRRORED = "/v2/acme/hub"


async def test_a_tag_not_held_is_fetched_from_the_upstream_stored_and_served(
    api: Api, upstream: Distribution, proxy: Proxy
) -> None:
    image = image_manifest([random_blob(2048)])
    digest = await push_upstream(upstream, "library/busybox", "1.36", image)
    await make_mirror(api, proxy.url, upstream)
    response = await pull(api, f"{MIRRORED}/busybox/manifests/1.36")
    assert response.status_code == 200, response.text
    assert response.content == image.manifest
    assert response.headers["docker-content-digest"] == digest
    [row] = await api.rows(
        "SELECT r.slug FROM packages p JOIN package_links l ON l.package_id = p.id"
        " JOIN repositories r ON r.id = l.repository_id WHERE p.name = 'acme/hub/busybox'"
    )
    assert row["slug"] == "hub"
    again = await pull(api, f"{MIRRORED}/busybox/manifests/1.36")
    assert again.content == image.manifest
    assert proxy.count("GET", "/v2/library/busybox/manifests/1.36") == 1


async def test_a_blob_not_held_is_fetched_checked_and_kept(
    api: Api, upstream: Distribution, proxy: Proxy
) -> None:
    layer = random_blob(300_000)
    image = image_manifest([layer])
    await push_upstream(upstream, "tools/jq", "1", image)
    await make_mirror(api, proxy.url, upstream)
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    first = await pull(api, f"{MIRRORED}/tools/jq/blobs/{layer_digest}")
    assert first.status_code == 200 and first.content == layer
    second = await pull(api, f"{MIRRORED}/tools/jq/blobs/{layer_digest}")
    assert second.content == layer
    assert proxy.count("GET", f"/v2/tools/jq/blobs/{layer_digest}") == 1
    assert await api.rows("SELECT digest FROM blobs WHERE digest = :d", d=layer_digest)


async def test_an_index_fetches_its_platform_manifests_only_when_pulled(
    api: Api, upstream: Distribution, proxy: Proxy
) -> None:
    children = [image_manifest([random_blob(100)]) for _ in range(2)]
    for child in children:
        await push_upstream(upstream, "library/alpine", child.digest, child)
    index = index_manifest(children)
    await push_upstream(upstream, "library/alpine", "3", index)
    await make_mirror(api, proxy.url, upstream)
    assert (await pull(api, f"{MIRRORED}/alpine/manifests/3")).content == index.manifest
    held = await api.rows("SELECT digest FROM manifests")
    assert [row["digest"] for row in held] == [index.digest]
    child = await pull(api, f"{MIRRORED}/alpine/manifests/{children[1].digest}")
    assert child.content == children[1].manifest
    [row] = await api.rows("SELECT is_child FROM manifests WHERE digest = :d", d=children[1].digest)
    assert row["is_child"]


async def test_a_tag_the_upstream_does_not_have_is_manifest_unknown(
    api: Api, upstream: Distribution, proxy: Proxy
) -> None:
    await make_mirror(api, proxy.url, upstream)
    response = await pull(api, f"{MIRRORED}/nothing-here/manifests/1")
    assert response.status_code == 404
    assert error_code(response) == "MANIFEST_UNKNOWN"
    assert await api.rows("SELECT name FROM packages WHERE name LIKE 'acme/hub/%'") == []


async def test_a_tag_never_seen_while_the_upstream_is_down_is_503(
    api: Api, upstream: Distribution, proxy: Proxy
) -> None:
    await make_mirror(api, proxy.url, upstream)
    proxy.close()
    response = await pull(api, f"{MIRRORED}/busybox/manifests/latest")
    assert response.status_code == 503
    assert error_code(response) == "UNAVAILABLE"
    assert "could not be asked" in response.json()["errors"][0]["message"]


async def test_a_cached_tag_is_served_with_a_warning_when_the_upstream_is_down(
    api: Api, upstream: Distribution, proxy: Proxy
) -> None:
    image = image_manifest([random_blob(100)])
    await push_upstream(upstream, "library/busybox", "latest", image)
    await make_mirror(api, proxy.url, upstream, tag_ttl=0)
    assert (await pull(api, f"{MIRRORED}/busybox/manifests/latest")).status_code == 200
    upstream.stop()
    response = await pull(api, f"{MIRRORED}/busybox/manifests/latest")
    assert response.status_code == 200
    assert response.content == image.manifest
    assert response.headers["warning"].startswith("110 ")


async def test_a_tag_is_not_checked_upstream_within_its_ttl(
    api: Api, upstream: Distribution, proxy: Proxy
) -> None:
    await push_upstream(upstream, "library/busybox", "latest", image_manifest([random_blob(9)]))
    await make_mirror(api, proxy.url, upstream, tag_ttl=3600)
    for _ in range(3):
        response = await pull(api, f"{MIRRORED}/busybox/manifests/latest")
        assert response.status_code == 200 and "warning" not in response.headers
    assert proxy.count("GET", "/manifests/") == 1 and proxy.count("HEAD", "/manifests/") == 0


async def test_a_tag_moved_upstream_is_fetched_again_after_its_ttl(
    api: Api, upstream: Distribution, proxy: Proxy
) -> None:
    await push_upstream(upstream, "library/busybox", "latest", image_manifest([random_blob(9)]))
    await make_mirror(api, proxy.url, upstream, tag_ttl=0)
    await pull(api, f"{MIRRORED}/busybox/manifests/latest")
    newer = image_manifest([random_blob(10)])
    await push_upstream(upstream, "library/busybox", "latest", newer)
    response = await pull(api, f"{MIRRORED}/busybox/manifests/latest")
    assert response.headers["docker-content-digest"] == newer.digest
    assert proxy.count("HEAD", "/v2/library/busybox/manifests/latest") == 1


async def test_concurrent_pulls_of_one_blob_make_one_upstream_fetch(
    api: Api, upstream: Distribution, proxy: Proxy
) -> None:
    layer = random_blob(3_000_000)
    await push_upstream(upstream, "library/big", "1", image_manifest([layer]))
    await make_mirror(api, proxy.url, upstream)
    digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    answers = await asyncio.gather(
        *(pull(api, f"{MIRRORED}/big/blobs/{digest}") for _ in range(10))
    )
    assert all(answer.status_code == 200 and answer.content == layer for answer in answers)
    assert proxy.count("GET", f"/blobs/{digest}") == 1


async def test_bytes_that_do_not_match_the_digest_are_not_stored(
    api: Api, upstream: Distribution, proxy: Proxy
) -> None:
    layer = random_blob(200_000)
    await push_upstream(upstream, "library/bad", "1", image_manifest([layer]))
    await make_mirror(api, proxy.url, upstream)
    proxy.corrupt = True
    digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    async with httpx.AsyncClient(
        transport=api.transport, base_url=api.client.base_url, headers=await basic(api, "owner")
    ) as client:
        try:
            response = await client.get(f"{MIRRORED}/bad/blobs/{digest}")
        except Exception:  # the answer broke off before its end
            response = None
    assert response is None or hashlib.sha256(response.content).hexdigest() != digest[7:]
    assert await api.rows("SELECT digest FROM blobs WHERE digest = :d", d=digest) == []
    assert await api.rows("SELECT id FROM uploads") == []
    assert await api.rows("SELECT digest FROM package_blobs WHERE digest = :d", d=digest) == []


async def test_a_push_to_a_mirror_package_is_denied(
    api: Api, upstream: Distribution, proxy: Proxy
) -> None:
    await make_mirror(api, proxy.url, upstream)
    headers = await basic(api, "owner")
    response = await api.client.post(f"{MIRRORED}/busybox/blobs/uploads/", headers=headers)
    assert response.status_code == 403
    assert error_code(response) == "DENIED"
    assert "read-only" in response.json()["errors"][0]["message"]


async def test_a_mirror_package_is_read_with_the_role_on_the_mirror_repository(
    api: Api, upstream: Distribution, proxy: Proxy
) -> None:
    await push_upstream(upstream, "library/busybox", "1", image_manifest([random_blob(9)]))
    await make_mirror(api, proxy.url, upstream, repository="web")  # readers of acme/web
    assert (await pull(api, f"{MIRRORED}/busybox/manifests/1", "reader")).status_code == 200
    refused = await pull(api, f"{MIRRORED}/busybox/manifests/1", "member")
    assert refused.status_code == 404 and error_code(refused) == "NAME_UNKNOWN"


async def test_the_token_flow_grants_pull_on_a_mirror_package_not_held(
    api: Api, upstream: Distribution, proxy: Proxy
) -> None:
    await push_upstream(upstream, "library/busybox", "1", image_manifest([random_blob(9)]))
    await make_mirror(api, proxy.url, upstream, repository="web")
    scope = "repository:acme/hub/busybox:pull"
    token = await api.client.get(
        "/token", params={"scope": scope, "service": "cargohold"},
        headers=await basic(api, "reader"),
    )  # fmt: skip
    assert token.status_code == 200, token.text
    bearer = {"Authorization": f"Bearer {token.json()['token']}", "Accept": ACCEPT}
    response = await api.client.get(f"{MIRRORED}/busybox/manifests/1", headers=bearer)
    assert response.status_code == 200
    assert json.loads(response.content)["schemaVersion"] == 2


async def test_a_tag_checked_upstream_looks_freshly_pushed_to_retention(
    api: Api, upstream: Distribution, proxy: Proxy
) -> None:
    await push_upstream(upstream, "library/busybox", "latest", image_manifest([random_blob(9)]))
    await make_mirror(api, proxy.url, upstream, tag_ttl=0)
    await pull(api, f"{MIRRORED}/busybox/manifests/latest")
    await api.context.db.execute("UPDATE tags SET updated_at = 0")
    await pull(api, f"{MIRRORED}/busybox/manifests/latest")
    [row] = await api.rows("SELECT updated_at FROM tags")
    assert row["updated_at"] > 0


async def test_a_head_of_a_blob_not_held_answers_its_size_and_stores_it(
    api: Api, upstream: Distribution, proxy: Proxy
) -> None:
    layer = random_blob(100_000)
    await push_upstream(upstream, "library/busybox", "1", image_manifest([layer]))
    await make_mirror(api, proxy.url, upstream)
    digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    head = await pull(api, f"{MIRRORED}/busybox/blobs/{digest}", method="HEAD")
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(layer))
    for _ in range(100):  # the fetch goes on after the answer
        if await api.rows("SELECT digest FROM blobs WHERE digest = :d", d=digest):
            break
        await asyncio.sleep(0.05)
    assert (await pull(api, f"{MIRRORED}/busybox/blobs/{digest}")).content == layer
    assert proxy.count("GET", f"/blobs/{digest}") == 1


@pytest.mark.settings(mirror_timeout=1.0)
async def test_a_first_client_that_stops_reading_does_not_stall_the_others(
    api: Api, upstream: Distribution, proxy: Proxy
) -> None:
    layer = random_blob(12 * 1024 * 1024)  # more pieces than the first client may fall behind
    await push_upstream(upstream, "library/big", "1", image_manifest([layer]))
    await make_mirror(api, proxy.url, upstream)
    digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    ctx = api.context
    found = await pull_through.find(ctx, "acme/hub/big")
    assert found is not None
    first = await pull_through.pull_blob(ctx, found, "acme/hub/big", Digest.parse(digest))
    assert isinstance(first, pull_through.Live)  # and never read
    second = await asyncio.wait_for(pull(api, f"{MIRRORED}/big/blobs/{digest}"), 60)
    assert second.status_code == 200 and second.content == layer
    assert proxy.count("GET", f"/blobs/{digest}") == 1
