"""Tags: readers list them, writers delete them (the manifest stays)."""

from __future__ import annotations

from tests.functional.api.people import Api, assert_problem, names


async def test_list_tags_with_their_manifests(api: Api) -> None:
    digest = await api.push("acme/web/api", "v1")
    await api.push("acme/web/api", "latest")
    response = await api.get("/packages/acme/web/api/-/tags", "reader", scope="read:package")
    assert names(response) == ["latest", "v1"]
    v1 = response.json()["items"][1]
    assert v1["digest"] == digest
    assert v1["media_type"] == "application/vnd.oci.image.manifest.v1+json"
    assert v1["size"] > 0
    assert (await api.get("/packages/acme/web/api", "reader")).json()["tag_count"] == 2


async def test_tag_list_is_paged(api: Api) -> None:
    for tag in ("a", "b", "c"):
        await api.push("acme/web/api", tag)
    first = await api.get("/packages/acme/web/api/-/tags", "reader", params={"limit": 2})
    assert (names(first), first.json()["next_after"]) == (["a", "b"], "b")


async def test_tags_of_an_unreadable_package_are_404(api: Api) -> None:
    assert_problem(await api.get("/packages/acme/web/api/-/tags", "member"), 404)


async def test_writer_deletes_a_tag_and_the_manifest_stays(api: Api) -> None:
    digest = await api.push("acme/web/api", "v1")
    response = await api.delete("/packages/acme/web/api/-/tags/v1", "writer", scope="write:package")
    assert response.status_code == 204
    assert names(await api.get("/packages/acme/web/api/-/tags", "writer")) == []
    manifests = await api.rows("SELECT digest FROM manifests")
    assert manifests == [{"digest": digest}]


async def test_readers_may_not_delete_tags(api: Api) -> None:
    await api.push("acme/web/api", "v1")
    assert_problem(await api.delete("/packages/acme/web/api/-/tags/v1", "reader"), 403)


async def test_read_scope_may_not_delete_tags(api: Api) -> None:
    await api.push("acme/web/api", "v1")
    response = await api.delete("/packages/acme/web/api/-/tags/v1", "owner", scope="read:package")
    assert "write:package" in assert_problem(response, 403)["detail"]


async def test_deleting_a_missing_tag_is_404(api: Api) -> None:
    assert_problem(await api.delete("/packages/acme/web/api/-/tags/nope", "writer"), 404)


async def test_deleting_a_tag_anonymously_is_401(api: Api) -> None:
    await api.push("acme/site/www", "v1")
    assert_problem(await api.delete("/packages/acme/site/www/-/tags/v1"), 401)
