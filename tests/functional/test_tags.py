"""GET /v2/<name>/tags/list, paginated with n and last (end-8a, end-8b)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.functional.registry import Registry, error_code, image_manifest, random_blob

NAME = "acme/web"
TAGS = ["v10", "v2", "latest", "Latest", "A", "_x", "1.0", "b-c", "b.c", "b_c", "z"]
LINK = re.compile(r'<(?P<url>[^>]+)>;\s*rel="next"')


async def tag_all(registry: Registry, tags: list[str], name: str = NAME) -> None:
    image = image_manifest([random_blob()])
    await registry.push_image(name, tags[0], image)
    for tag in tags[1:]:
        response = await registry.put_manifest(name, tag, image, push_blobs=False)
        assert response.status_code == 201, response.text


def next_url(response: httpx.Response) -> str | None:
    header = response.headers.get("link")
    if header is None:
        return None
    match = LINK.fullmatch(header.strip())
    assert match is not None, header
    return match["url"]


async def test_tags_are_listed_in_lexical_order(registry: Registry) -> None:
    await tag_all(registry, TAGS)

    response = await registry.client.get(f"/v2/{NAME}/tags/list")

    assert response.status_code == 200
    assert response.json() == {"name": NAME, "tags": sorted(TAGS)}
    assert "link" not in response.headers


async def test_repository_without_tags_lists_none(registry: Registry) -> None:
    await registry.push_blob(NAME, random_blob())

    response = await registry.client.get(f"/v2/{NAME}/tags/list")

    assert response.status_code == 200
    assert response.json() == {"name": NAME, "tags": []}


async def test_unknown_repository_is_404_name_unknown(registry: Registry) -> None:
    response = await registry.client.get("/v2/acme/nothing/tags/list")

    assert response.status_code == 404
    assert error_code(response) == "NAME_UNKNOWN"
    assert "acme/nothing" in response.json()["errors"][0]["message"]


async def test_n_limits_the_page_and_link_leads_through_every_tag(registry: Registry) -> None:
    await tag_all(registry, TAGS)
    expected = sorted(TAGS)

    first = await registry.client.get(f"/v2/{NAME}/tags/list", params={"n": 3})
    assert first.status_code == 200
    assert first.json()["tags"] == expected[:3]
    assert next_url(first) == f"/v2/{NAME}/tags/list?n=3&last={expected[2]}"

    seen, url, pages = list(first.json()["tags"]), next_url(first), 1
    while url is not None:
        page = await registry.client.get(url)
        assert page.status_code == 200
        assert len(page.json()["tags"]) <= 3
        seen += page.json()["tags"]
        url, pages = next_url(page), pages + 1
    assert seen == expected
    assert pages == 4


async def test_last_page_that_is_exactly_full_has_no_link(registry: Registry) -> None:
    await tag_all(registry, ["a", "b", "c", "d"])

    response = await registry.client.get(f"/v2/{NAME}/tags/list", params={"n": 2, "last": "b"})

    assert response.json()["tags"] == ["c", "d"]
    assert "link" not in response.headers


@pytest.mark.parametrize(
    ("last", "expected"),
    [("b-c", ["b.c", "b_c", "latest", "v10", "v2", "z"]), ("m", ["v10", "v2", "z"]), ("zz", [])],
)
async def test_last_returns_only_tags_after_it(
    registry: Registry, last: str, expected: list[str]
) -> None:
    await tag_all(registry, TAGS)

    response = await registry.client.get(f"/v2/{NAME}/tags/list", params={"last": last})

    assert response.status_code == 200
    assert response.json()["tags"] == expected


async def test_n_0_gives_an_empty_list_and_no_link(registry: Registry) -> None:
    await tag_all(registry, TAGS)

    response = await registry.client.get(f"/v2/{NAME}/tags/list", params={"n": 0})

    assert response.status_code == 200
    assert response.json() == {"name": NAME, "tags": []}
    assert "link" not in response.headers


async def test_n_larger_than_the_tag_count_lists_all_without_link(registry: Registry) -> None:
    await tag_all(registry, TAGS)

    response = await registry.client.get(f"/v2/{NAME}/tags/list", params={"n": 100})

    assert response.json()["tags"] == sorted(TAGS)
    assert "link" not in response.headers


@pytest.mark.settings(page_size_max=4)
async def test_without_n_a_page_is_the_page_size_maximum_and_link_leads_on(
    registry: Registry,
) -> None:
    await tag_all(registry, TAGS)

    first = await registry.client.get(f"/v2/{NAME}/tags/list")
    url = next_url(first)
    listed = first.json()["tags"]
    while url is not None:
        page = await registry.client.get(url)
        assert len(page.json()["tags"]) <= 4
        listed += page.json()["tags"]
        url = next_url(page)

    assert first.json()["tags"] == sorted(TAGS)[:4]
    assert next_url(first) == f"/v2/{NAME}/tags/list?n=4&last={sorted(TAGS)[3]}"
    assert listed == sorted(TAGS)


@pytest.mark.settings(page_size_max=4)
async def test_n_above_the_page_size_maximum_is_clamped(registry: Registry) -> None:
    await tag_all(registry, TAGS)

    response = await registry.client.get(f"/v2/{NAME}/tags/list", params={"n": 50})

    assert response.status_code == 200
    assert response.json()["tags"] == sorted(TAGS)[:4]
    assert next_url(response) == f"/v2/{NAME}/tags/list?n=4&last={sorted(TAGS)[3]}"


@pytest.mark.parametrize("n", ["-1", "abc", "1.5", "0x10", " 1", "1e3", "²"])
async def test_bad_n_is_400(registry: Registry, n: str) -> None:
    await tag_all(registry, ["v1"])

    response = await registry.client.get(f"/v2/{NAME}/tags/list", params={"n": n})

    assert response.status_code == 400
    assert error_code(response) == "UNSUPPORTED"
    assert "n must be" in response.json()["errors"][0]["message"]


async def test_deleted_tag_leaves_the_list(registry: Registry) -> None:
    await tag_all(registry, ["v1", "v2"])

    await registry.client.delete(f"/v2/{NAME}/manifests/v1")

    response = await registry.client.get(f"/v2/{NAME}/tags/list")
    assert response.json()["tags"] == ["v2"]


async def test_tags_of_other_repositories_are_not_listed(registry: Registry) -> None:
    await tag_all(registry, ["v1"], "acme/a")
    await tag_all(registry, ["v2"], "acme/b")

    response = await registry.client.get("/v2/acme/a/tags/list")

    assert response.json() == {"name": "acme/a", "tags": ["v1"]}
