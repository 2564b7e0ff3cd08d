"""What scale-out adds to the API: health endpoints, 503s for a part that is down, blob
redirects to the object store, and URLs built from a trusted proxy's headers."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from cargohold.config import Settings
from cargohold.web.app import create_app
from tests.backends import SeaweedFS, free_port
from tests.functional.registry import Registry, digest_of, error_code, fail_on_server_error


@pytest.fixture
async def client_for() -> AsyncIterator[Callable[[Settings], httpx.AsyncClient]]:
    """`client_for(settings)`: a client of a new app (5xx answers are allowed here)."""
    apps = []

    def make(settings: Settings) -> httpx.AsyncClient:
        app = create_app(settings)
        apps.append(app)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url="http://registry.test")

    yield make
    for app in apps:
        await app.state.context.close()


async def test_healthz_and_readyz_answer_when_all_is_well(registry: Registry) -> None:
    live = await registry.client.get("/healthz")
    ready = await registry.client.get("/readyz")

    assert live.status_code == 200 and live.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"database": {"ok": True}, "storage": {"ok": True}},
    }
    assert ready.headers["cache-control"] == "no-store"


async def test_with_database_and_store_down_requests_fail_fast_with_503(
    tmp_path: os.PathLike[str], client_for: Callable[[Settings], httpx.AsyncClient]
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        auth="none",
        database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/nothing",
        database_connect_timeout=1.0,
        storage="s3",
        s3_endpoint=f"http://127.0.0.1:{free_port()}",
        s3_bucket="nothing",
        s3_access_key="k",
        s3_secret_key="s",
        s3_path_style=True,
    )
    async with client_for(settings) as client:
        assert (await client.get("/healthz")).status_code == 200

        started = time.monotonic()
        ready = await client.get("/readyz")
        tags = await client.get("/v2/acme/web/tags/list")
        assert time.monotonic() - started < 6.0

    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["storage"]["ok"] is False
    assert "database" in body["checks"]["database"]["error"]
    assert "object store" in body["checks"]["storage"]["error"]
    assert tags.status_code == 503
    assert error_code(tags) == "UNAVAILABLE"
    assert tags.json()["errors"][0]["detail"] == {"component": "database"}
    assert tags.headers["retry-after"] == "5"


async def test_a_store_that_is_down_is_a_503_for_blob_requests(
    fresh_settings: Callable[..., Settings], client_for: Callable[[Settings], httpx.AsyncClient]
) -> None:
    settings = fresh_settings(
        auth="none",
        storage="s3",
        s3_endpoint=f"http://127.0.0.1:{free_port()}",
        s3_bucket="nothing",
        s3_access_key="k",
        s3_secret_key="s",
        s3_path_style=True,
    )
    async with client_for(settings) as client:
        start = await client.post("/v2/acme/web/blobs/uploads/")
        ready = await client.get("/readyz")

    assert start.status_code == 503
    assert error_code(start) == "UNAVAILABLE"
    assert start.json()["errors"][0]["detail"] == {"component": "storage"}
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == {"ok": True}


@pytest.fixture
async def redirecting(
    fresh_settings: Callable[..., Settings], seaweedfs_server: SeaweedFS
) -> AsyncIterator[Registry]:
    settings = fresh_settings(
        auth="none",
        blob_redirect=True,
        blob_redirect_min_size=1000,
        **seaweedfs_server.settings(prefix=f"redirect-{os.urandom(4).hex()}/"),
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://registry.test",
        event_hooks={"response": [fail_on_server_error]},
    ) as client:
        yield Registry(client, app.state.context, app)
    await app.state.context.close()


async def test_blob_gets_redirect_to_the_store_which_honours_range(redirecting: Registry) -> None:
    data = os.urandom(5000)
    digest = await redirecting.push_blob("acme/web", data)
    url = f"/v2/acme/web/blobs/{digest}"

    response = await redirecting.client.get(url)
    head = await redirecting.client.head(url)

    assert response.status_code == 307
    assert response.headers["docker-content-digest"] == digest
    location = response.headers["location"]
    assert location.startswith("http://127.0.0.1:")
    async with httpx.AsyncClient() as store:
        whole = await store.get(location)
        ranged = await store.get(location, headers={"Range": "bytes=1000-1999"})
    assert whole.status_code == 200 and whole.content == data
    assert ranged.status_code == 206 and ranged.content == data[1000:2000]
    assert head.status_code == 200
    assert head.headers["content-length"] == "5000"


async def test_small_blobs_and_bad_ranges_are_answered_here(redirecting: Registry) -> None:
    small = b"tiny blob"
    digest = await redirecting.push_blob("acme/web", small)
    big = await redirecting.push_blob("acme/web", os.urandom(2000))

    response = await redirecting.client.get(f"/v2/acme/web/blobs/{digest}")
    beyond = await redirecting.client.get(
        f"/v2/acme/web/blobs/{big}", headers={"Range": "bytes=5000-"}
    )
    unknown = await redirecting.client.get(f"/v2/acme/web/blobs/{digest_of(b'nothing')}")

    assert response.status_code == 200 and response.content == small
    assert beyond.status_code == 416
    assert unknown.status_code == 404


# Without public_url the realm follows the request's host only on loopback (test_realm.py),
# so these requests name loopback hosts: what counts is whether the forwarded ones apply.
@pytest.mark.settings(auth="token")
async def test_urls_use_the_host_a_client_asked_for_without_trust(registry: Registry) -> None:
    response = await registry.client.get(
        "/v2/",
        headers={
            "Host": "127.0.0.1:5000",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "localhost:8443",
        },
    )

    assert response.status_code == 401
    assert 'realm="http://127.0.0.1:5000/token"' in response.headers["www-authenticate"]


@pytest.mark.settings(auth="token", trust_proxy_headers=True)
async def test_urls_use_the_proxys_scheme_and_host_when_trusted(registry: Registry) -> None:
    forwarded = await registry.client.get(
        "/v2/",
        headers={
            "Host": "127.0.0.1:5000",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "localhost:8443",
        },
    )
    direct = await registry.client.get("/v2/", headers={"Host": "127.0.0.1:5000"})

    assert 'realm="https://localhost:8443/token"' in forwarded.headers["www-authenticate"]
    assert 'realm="http://127.0.0.1:5000/token"' in direct.headers["www-authenticate"]
