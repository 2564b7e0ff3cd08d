"""Tag protection at /v2: a tag matching a package's rule may be moved to another manifest
or deleted only by a package admin; a refused push is 403 DENIED naming the rule.
Creating such a tag, and pushing the same manifest to it again, is open to writers."""

from __future__ import annotations

from tests.functional.api import conftest as api_world
from tests.functional.api.images import basic, bearer, registry_as, small_image
from tests.functional.api.people import Api
from tests.functional.registry import error_code

NAME = "acme/web/api"
# The token-auth world of the API tests (tests/functional/api/people.py).
settings = api_world.settings
api = api_world.api


async def protect(api: Api, *patterns: str) -> None:
    response = await api.put(
        f"/packages/{NAME}/-/protection", "admin", json={"patterns": list(patterns)}
    )
    assert response.status_code == 200, response.text


async def tag_digest(api: Api, tag: str) -> str | None:
    rows = await api.rows(
        "SELECT m.digest FROM tags t JOIN manifests m ON m.id = t.manifest_id"
        " JOIN packages p ON p.id = t.package_id WHERE p.name = :n AND t.name = :t",
        n=NAME,
        t=tag,
    )
    return rows[0]["digest"] if rows else None


async def test_a_writer_may_not_move_a_protected_tag(api: Api) -> None:
    first = await api.push(NAME, "v1.0")
    await protect(api, "release-*", "v*")
    async with registry_as(api, "writer") as registry:
        response = await registry.put_manifest(NAME, "v1.0", small_image("other"))
    assert response.status_code == 403
    assert error_code(response) == "DENIED"
    message = response.json()["errors"][0]["message"]
    assert "'v1.0'" in message and "'v*'" in message and NAME in message
    assert "admin" in message
    assert response.json()["errors"][0]["detail"]["rule"] == "v*"
    assert await tag_digest(api, "v1.0") == first


async def test_a_refused_push_leaves_no_manifest_behind(api: Api) -> None:
    await api.push(NAME, "v1.0")
    await protect(api, "v*")
    image = small_image("other")
    async with registry_as(api, "writer") as registry:
        assert (await registry.put_manifest(NAME, "v1.0", image)).status_code == 403
    assert await api.rows("SELECT id FROM manifests WHERE digest = :d", d=image.digest) == []


async def test_an_admin_moves_a_protected_tag(api: Api) -> None:
    await api.push(NAME, "v1.0")
    await protect(api, "v*")
    async with registry_as(api, "admin") as registry:
        moved = await registry.push_image(NAME, "v1.0", small_image("fix"))
    assert await tag_digest(api, "v1.0") == moved


async def test_an_admin_with_a_docker_push_token_moves_a_protected_tag(api: Api) -> None:
    """docker asks /token for pull,push only; the admin role in the token is what counts."""
    await api.push(NAME, "v1.0")
    await protect(api, "v*")
    headers = await bearer(api, "admin", f"repository:{NAME}:pull,push")
    async with registry_as(api, "admin", headers) as registry:
        moved = await registry.push_image(NAME, "v1.0", small_image("fix"))
    assert await tag_digest(api, "v1.0") == moved


async def test_a_writer_with_a_docker_push_token_is_denied(api: Api) -> None:
    await api.push(NAME, "v1.0")
    await protect(api, "v*")
    headers = await bearer(api, "writer", f"repository:{NAME}:pull,push")
    async with registry_as(api, "writer", headers) as registry:
        response = await registry.put_manifest(NAME, "v1.0", small_image("other"))
    assert (response.status_code, error_code(response)) == (403, "DENIED")


async def test_an_admin_token_without_the_admin_scope_is_denied(api: Api) -> None:
    await api.push(NAME, "v1.0")
    await protect(api, "v*")
    headers = await basic(api, "owner", "write:package")
    async with registry_as(api, "owner", headers) as registry:
        response = await registry.put_manifest(NAME, "v1.0", small_image("other"))
    assert (response.status_code, error_code(response)) == (403, "DENIED")


async def test_a_writer_creates_a_new_protected_tag(api: Api) -> None:
    await protect(api, "v*")
    async with registry_as(api, "writer") as registry:
        pushed = await registry.push_image(NAME, "v3.0", small_image("new"))
    assert await tag_digest(api, "v3.0") == pushed


async def test_a_writer_pushes_the_same_manifest_to_a_protected_tag_again(api: Api) -> None:
    await protect(api, "v*")
    image = small_image("same")
    async with registry_as(api, "writer") as registry:
        await registry.push_image(NAME, "v1.0", image)
        again = await registry.put_manifest(NAME, "v1.0", image)
    assert again.status_code == 201


async def test_a_writer_moves_an_unprotected_tag(api: Api) -> None:
    await api.push(NAME, "latest")
    await protect(api, "v*")
    async with registry_as(api, "writer") as registry:
        moved = await registry.push_image(NAME, "latest", small_image("next"))
    assert await tag_digest(api, "latest") == moved


async def test_rules_match_the_whole_tag_case_sensitively(api: Api) -> None:
    for tag in ("av1", "V1", "release-1"):
        await api.push(NAME, tag)
    await protect(api, "v*", "release-?")
    async with registry_as(api, "writer") as registry:
        for tag, status in (("av1", 201), ("V1", 201), ("release-1", 403)):
            response = await registry.put_manifest(NAME, tag, small_image(tag))
            assert response.status_code == status, tag


async def test_a_writer_may_not_delete_a_protected_tag(api: Api) -> None:
    digest = await api.push(NAME, "v1.0")
    await protect(api, "v*")
    async with registry_as(api, "writer") as registry:
        response = await registry.client.delete(f"/v2/{NAME}/manifests/v1.0")
    assert (response.status_code, error_code(response)) == (403, "DENIED")
    assert "'v*'" in response.json()["errors"][0]["message"]
    assert await tag_digest(api, "v1.0") == digest


async def test_an_admin_deletes_a_protected_tag(api: Api) -> None:
    await api.push(NAME, "v1.0")
    await protect(api, "v*")
    async with registry_as(api, "admin") as registry:
        response = await registry.client.delete(f"/v2/{NAME}/manifests/v1.0")
        assert response.status_code == 202
        gone = await registry.client.get(f"/v2/{NAME}/manifests/v1.0")
        assert (gone.status_code, error_code(gone)) == (404, "MANIFEST_UNKNOWN")
    assert await tag_digest(api, "v1.0") is None


async def test_a_writer_deletes_an_unprotected_tag(api: Api) -> None:
    digest = await api.push(NAME, "latest")
    await protect(api, "v*")
    async with registry_as(api, "writer") as registry:
        response = await registry.client.delete(f"/v2/{NAME}/manifests/latest")
        assert response.status_code == 202
        gone = await registry.client.get(f"/v2/{NAME}/manifests/latest")
        assert (gone.status_code, error_code(gone)) == (404, "MANIFEST_UNKNOWN")
        kept = await registry.client.get(f"/v2/{NAME}/manifests/{digest}")
        assert kept.status_code == 200  # the tag only: the manifest stays
    assert await tag_digest(api, "latest") is None


async def test_deleting_a_missing_protected_tag_is_manifest_unknown(api: Api) -> None:
    await protect(api, "v*")
    async with registry_as(api, "writer") as registry:
        response = await registry.client.delete(f"/v2/{NAME}/manifests/v9")
    assert (response.status_code, error_code(response)) == (404, "MANIFEST_UNKNOWN")


async def test_a_package_without_rules_moves_tags_freely(api: Api) -> None:
    await api.push(NAME, "v1.0")
    async with registry_as(api, "writer") as registry:
        moved = await registry.push_image(NAME, "v1.0", small_image("other"))
    assert await tag_digest(api, "v1.0") == moved
