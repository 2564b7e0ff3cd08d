"""GET /v2/_catalog, paginated with n and last."""

from __future__ import annotations

import re

import pytest

from tests.functional.registry import (
    UNKNOWN_DIGEST,
    Registry,
    error_code,
    image_manifest,
    random_blob,
)

NAMES = ["acme/web", "acme/api", "zeta", "a", "acme/web/cache", "b.c", "b-c", "b_c"]
LINK = re.compile(r'<(?P<url>[^>]+)>;\s*rel="next"')


async def create(registry: Registry, names: list[str]) -> None:
    for name in names:
        await registry.push_blob(name, random_blob(16))


async def test_empty_registry_has_an_empty_catalog(registry: Registry) -> None:
    response = await registry.client.get("/v2/_catalog")

    assert response.status_code == 200
    assert response.json() == {"repositories": []}
    assert "link" not in response.headers


async def test_catalog_lists_repositories_in_lexical_order(registry: Registry) -> None:
    await create(registry, NAMES)

    response = await registry.client.get("/v2/_catalog")

    assert response.status_code == 200
    assert response.json() == {"repositories": sorted(NAMES)}
    assert "link" not in response.headers


async def test_repository_is_created_by_its_first_push(registry: Registry) -> None:
    await registry.push_image("acme/web", "v1", image_manifest([random_blob()]))

    response = await registry.client.get("/v2/_catalog")

    assert response.json() == {"repositories": ["acme/web"]}


async def test_n_and_link_page_through_every_repository(registry: Registry) -> None:
    await create(registry, NAMES)
    expected = sorted(NAMES)

    response = await registry.client.get("/v2/_catalog", params={"n": 3})
    assert (
        response.headers["link"]
        == f'</v2/_catalog?n=3&last={expected[2].replace("/", "%2F")}>; rel="next"'
    )

    seen: list[str] = []
    while True:
        assert response.status_code == 200
        page = response.json()["repositories"]
        assert 0 < len(page) <= 3
        seen += page
        link = response.headers.get("link")
        if link is None:
            break
        match = LINK.fullmatch(link)
        assert match is not None, link
        response = await registry.client.get(match["url"])
    assert seen == expected


async def test_last_returns_repositories_after_it(registry: Registry) -> None:
    await create(registry, NAMES)

    response = await registry.client.get("/v2/_catalog", params={"last": "acme/web"})

    assert response.json()["repositories"] == [n for n in sorted(NAMES) if n > "acme/web"]


async def test_n_0_gives_an_empty_list_and_no_link(registry: Registry) -> None:
    await create(registry, NAMES)

    response = await registry.client.get("/v2/_catalog", params={"n": 0})

    assert response.status_code == 200
    assert response.json() == {"repositories": []}
    assert "link" not in response.headers


@pytest.mark.settings(page_size_max=3)
async def test_catalog_without_n_is_paged_at_the_configured_maximum(registry: Registry) -> None:
    await create(registry, NAMES)

    response = await registry.client.get("/v2/_catalog")

    assert response.json()["repositories"] == sorted(NAMES)[:3]
    assert "link" in response.headers


@pytest.mark.parametrize("n", ["-1", "abc", "1.5", "0x10", " 1", "1e3", "²"])
async def test_bad_n_is_400(registry: Registry, n: str) -> None:
    await create(registry, NAMES)

    response = await registry.client.get("/v2/_catalog", params={"n": n})

    assert response.status_code == 400
    assert error_code(response) == "UNSUPPORTED"
    assert "n must be" in response.json()["errors"][0]["message"]


async def test_refused_pushes_leave_no_repository_behind(registry: Registry) -> None:
    await registry.client.post(
        "/v2/acme/blob/blobs/uploads/", params={"digest": UNKNOWN_DIGEST}, content=b"data"
    )
    await registry.client.put(
        "/v2/acme/manifest/manifests/v1",
        content=image_manifest([random_blob()]).manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    await registry.client.post("/v2/Acme/Bad/blobs/uploads/")

    response = await registry.client.get("/v2/_catalog")

    assert response.status_code == 200
    assert response.json() == {"repositories": []}
