"""Tag protection through the API: readers see the patterns, admins replace them, and a
protected tag is deleted through the API by package admins only."""

from __future__ import annotations

import pytest

from tests.functional.api.people import Api, assert_problem, names

NAME = "acme/web/api"
BASE = f"/packages/{NAME}/-/protection"


async def protect(api: Api, *patterns: str) -> None:
    response = await api.put(BASE, "admin", json={"patterns": list(patterns)})
    assert response.status_code == 200, response.text


async def test_a_package_has_no_protected_tags_at_first(api: Api) -> None:
    response = await api.get(BASE, "reader", scope="read:package")
    assert response.status_code == 200
    assert response.json() == {"patterns": []}


async def test_admins_replace_the_patterns_and_readers_see_them(api: Api) -> None:
    await protect(api, "v*", "release-*", "v*")
    assert (await api.get(BASE, "reader")).json() == {"patterns": ["release-*", "v*"]}
    await protect(api, "stable")
    assert (await api.get(BASE, "reader")).json() == {"patterns": ["stable"]}


async def test_an_empty_list_removes_every_pattern(api: Api) -> None:
    await protect(api, "v*")
    await protect(api)
    assert (await api.get(BASE, "reader")).json() == {"patterns": []}
    assert await api.rows("SELECT * FROM tag_protections") == []


async def test_a_pattern_remembers_who_added_it(api: Api) -> None:
    await protect(api, "v*")
    rows = await api.rows("SELECT pattern, created_by FROM tag_protections")
    assert rows == [{"pattern": "v*", "created_by": "admin@example.com"}]


@pytest.mark.parametrize(
    ("patterns", "said"),
    [
        ([""], "empty"),
        (["v 1"], "'v 1'"),
        (["v*", "rel[0-9]"], "'rel[0-9]'"),
        (["a/b"], "'a/b'"),
        (["x" * 129], "longer than 128"),
    ],
)
async def test_invalid_patterns_are_refused_naming_the_pattern(
    api: Api, patterns: list[str], said: str
) -> None:
    response = await api.put(BASE, "admin", json={"patterns": patterns})
    assert said in assert_problem(response, 422)["detail"]
    assert (await api.get(BASE, "admin")).json() == {"patterns": []}


async def test_more_than_twenty_patterns_are_refused(api: Api) -> None:
    response = await api.put(BASE, "admin", json={"patterns": [f"p{n}" for n in range(21)]})
    assert_problem(response, 422)


async def test_a_body_without_patterns_is_refused(api: Api) -> None:
    assert_problem(await api.put(BASE, "admin", json={}), 422)
    assert_problem(await api.put(BASE, "admin", json={"patterns": "v*"}), 422)


async def test_only_admins_change_protection(api: Api) -> None:
    body = {"json": {"patterns": ["v*"]}}
    refused = assert_problem(await api.put(BASE, "writer", **body), 403)
    assert "needs admin" in refused["detail"]  # a 403 names the role it needed
    refused = assert_problem(await api.request("PUT", BASE, "owner", "write:package", **body), 403)
    assert "admin:package" in refused["detail"]  # or the scope
    assert_problem(await api.put(BASE, "member", **body), 404)
    assert_problem(await api.put(BASE, None, **body), 401)
    assert_problem(await api.get(BASE, "outsider"), 404)


async def test_a_writer_may_not_delete_a_protected_tag(api: Api) -> None:
    await api.push(NAME, "v1.0")
    await protect(api, "v*")
    refused = await api.delete(f"/packages/{NAME}/-/tags/v1.0", "writer", scope="write:package")
    detail = assert_problem(refused, 403)["detail"]
    assert "'v1.0'" in detail and "'v*'" in detail and NAME in detail
    assert names(await api.get(f"/packages/{NAME}/-/tags", "writer")) == ["v1.0"]


async def assert_only_the_tag_went(api: Api, name: str, digest: str) -> None:
    """The package has no tag left, and its manifest stays, reachable by digest."""
    assert names(await api.get(f"/packages/{name}/-/tags", "admin")) == []
    assert await api.rows("SELECT name FROM tags") == []
    kept = await api.rows(
        "SELECT m.digest FROM manifests m JOIN packages p ON p.id = m.package_id WHERE p.name = :n",
        n=name,
    )
    assert kept == [{"digest": digest}]


async def test_an_admin_deletes_a_protected_tag(api: Api) -> None:
    digest = await api.push(NAME, "v1.0")
    await protect(api, "v*")
    assert (await api.delete(f"/packages/{NAME}/-/tags/v1.0", "admin")).status_code == 204
    await assert_only_the_tag_went(api, NAME, digest)


async def test_a_writer_deletes_an_unprotected_tag(api: Api) -> None:
    digest = await api.push(NAME, "latest")
    await protect(api, "v*")
    response = await api.delete(f"/packages/{NAME}/-/tags/latest", "writer", scope="write:package")
    assert response.status_code == 204
    await assert_only_the_tag_went(api, NAME, digest)


async def test_protection_is_per_package(api: Api) -> None:
    digest = await api.push("acme/web/db", "v1.0")
    await protect(api, "v*")
    response = await api.delete("/packages/acme/web/db/-/tags/v1.0", "writer")
    assert response.status_code == 204
    await assert_only_the_tag_went(api, "acme/web/db", digest)
