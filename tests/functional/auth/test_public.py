"""Public repositories: anyone may pull their packages without logging in, nothing more;
making one private takes its packages along at once."""

from __future__ import annotations

import time

import pytest

from cargohold.config import Settings
from cargohold.services.accounts import directory
from cargohold.services.context import open_context
from tests.functional.auth.world import (
    PRIVATE,
    PUBLIC,
    PUBLIC_BASE,
    PUBLIC_PACKAGES,
    World,
    bearer,
    challenge,
)
from tests.functional.registry import Registry, error_code


async def _anonymous_pull(registry: Registry, name: str) -> int:
    """What a plain `docker pull` does: /v2/, the challenge, an anonymous token, the pull.
    Returns the status of the manifest GET."""
    client = registry.client
    base = await client.get("/v2/")
    assert base.status_code == 401
    first = await client.get(f"/v2/{name}/manifests/v1", headers={"Accept": "*/*"})
    if first.status_code == 200:
        return 200
    assert first.status_code == 401, first.text
    params = challenge(first.headers["www-authenticate"])
    assert params["scope"] == f"repository:{name}:pull"
    answer = await client.get(
        "/token", params={"service": params["service"], "scope": params["scope"]}
    )
    assert answer.status_code == 200, answer.text
    headers = {"Authorization": f"Bearer {answer.json()['token']}", "Accept": "*/*"}
    return (await client.get(f"/v2/{name}/manifests/v1", headers=headers)).status_code


async def test_anyone_may_pull_a_public_package(registry: Registry, world: World) -> None:
    content = world.contents[PUBLIC]
    manifest = await registry.client.get(f"/v2/{PUBLIC}/manifests/v1", headers={"Accept": "*/*"})
    assert manifest.status_code == 200
    assert manifest.content == content.manifest
    layer = await registry.client.get(f"/v2/{PUBLIC}/blobs/{content.layer}")
    assert layer.status_code == 200
    tags = await registry.client.get(f"/v2/{PUBLIC}/tags/list")
    assert tags.json() == {"name": PUBLIC, "tags": ["v1"]}
    assert await _anonymous_pull(registry, PUBLIC) == 200


async def test_nobody_may_push_or_delete_without_a_role(registry: Registry, world: World) -> None:
    content = world.contents[PUBLIC]
    anonymous = await bearer(registry.client, None, [f"repository:{PUBLIC}:pull,push,delete"])
    member = world.credential("none").basic
    for headers in (anonymous, member):
        for method, path in (
            ("POST", f"/v2/{PUBLIC}/blobs/uploads/"),
            ("PUT", f"/v2/{PUBLIC}/manifests/v2"),
            ("DELETE", f"/v2/{PUBLIC}/manifests/v1"),
            ("DELETE", f"/v2/{PUBLIC}/manifests/{content.digest}"),
            ("DELETE", f"/v2/{PUBLIC}/blobs/{content.layer}"),
        ):
            response = await registry.client.request(method, path, headers=headers)
            assert response.status_code == 403, (method, path, response.text)
            assert error_code(response) == "DENIED"
    assert await _anonymous_pull(registry, PUBLIC) == 200, "nothing was deleted"


async def test_anonymous_catalog_lists_public_packages_only(registry: Registry) -> None:
    listing = await registry.client.get("/v2/_catalog")
    assert listing.json() == {"repositories": PUBLIC_PACKAGES}
    page = await registry.client.get("/v2/_catalog", params={"n": 1})
    assert page.json() == {"repositories": [PUBLIC_BASE]}
    assert "last=acme%2Fpub-base" in page.headers["link"]
    rest = await registry.client.get("/v2/_catalog", params={"n": 1, "last": PUBLIC_BASE})
    assert rest.json() == {"repositories": [PUBLIC]}
    assert "link" not in rest.headers


async def _visibility(registry: Registry, public: bool) -> None:
    repository = await directory.find_repository(registry.context.db, "acme/site")
    await directory.set_repository_visibility(
        registry.context.db, repository=repository, public=public
    )


async def test_making_a_repository_private_takes_its_packages_at_once(
    registry: Registry, world: World
) -> None:
    await _visibility(registry, public=False)

    for name in PUBLIC_PACKAGES:
        response = await registry.client.get(f"/v2/{name}/manifests/v1")
        assert response.status_code == 401
        assert challenge(response.headers["www-authenticate"])["scope"] == f"repository:{name}:pull"
        # a new anonymous token grants nothing on it
        assert await _anonymous_pull(registry, name) == 404
    assert (await registry.client.get("/v2/_catalog")).json() == {"repositories": []}

    # people with a role keep it; people who only had the public read lose it
    owner = {**world.credential("owner").basic, "Accept": "*/*"}
    assert (await registry.client.get(f"/v2/{PUBLIC}/manifests/v1", headers=owner)).is_success
    member = {**world.credential("none").basic, "Accept": "*/*"}
    hidden = await registry.client.get(f"/v2/{PUBLIC}/manifests/v1", headers=member)
    assert hidden.status_code == 404 and error_code(hidden) == "NAME_UNKNOWN"
    listing = await registry.client.get("/v2/_catalog", headers=member)
    assert listing.json() == {"repositories": []}

    await _visibility(registry, public=True)
    assert await _anonymous_pull(registry, PUBLIC) == 200
    assert (await registry.client.get("/v2/_catalog")).json() == {"repositories": PUBLIC_PACKAGES}


async def test_a_token_issued_while_public_lives_at_most_its_lifetime(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bearer tokens are checked without the database: one issued before the change keeps
    its pull for the rest of its short lifetime (token_lifetime, 300 s by default)."""
    headers = {
        **await bearer(registry.client, None, [f"repository:{PUBLIC}:pull"]),
        "Accept": "*/*",
    }
    issued = time.time()
    await _visibility(registry, public=False)
    assert (await registry.client.get(f"/v2/{PUBLIC}/manifests/v1", headers=headers)).is_success
    lifetime = registry.context.settings.token_lifetime
    monkeypatch.setattr(registry.context, "now", lambda: issued + lifetime + 1)
    late = await registry.client.get(f"/v2/{PUBLIC}/manifests/v1", headers=headers)
    assert late.status_code == 401


async def test_a_private_package_stays_hidden_from_anonymous_callers(registry: Registry) -> None:
    for path in (
        f"/v2/{PRIVATE}/manifests/v1",
        f"/v2/{PRIVATE}/tags/list",
        "/v2/acme/nope/tags/list",
    ):
        response = await registry.client.get(path)
        assert response.status_code == 401, "existing or not, the answer is the same"
        assert error_code(response) == "UNAUTHORIZED"
    assert await _anonymous_pull(registry, PRIVATE) == 404
    assert await _anonymous_pull(registry, "acme/nope") == 404


async def test_a_repository_made_private_by_another_process_refuses_anonymous_pulls_at_once(
    registry: Registry, world: World, settings: Settings
) -> None:
    """Anonymous reads of a public package are remembered in each process (metadata/
    readcache.py) only until the database changes, whoever changes it."""
    for _ in range(3):
        assert (await registry.client.get(f"/v2/{PUBLIC}/manifests/v1")).is_success
    other = open_context(settings)  # another worker, node or the CLI
    try:
        repository = await directory.find_repository(other.db, "acme/site")
        await directory.set_repository_visibility(other.db, repository=repository, public=False)
    finally:
        await other.close()
    refused = await registry.client.get(f"/v2/{PUBLIC}/manifests/v1")
    assert refused.status_code == 401
