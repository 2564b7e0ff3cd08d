"""GET /workspaces/{ws}/usage, /workspaces/{ws}/repositories/{repo}/usage,
/packages/{name}/-/usage, and the workspace quota (PUT, GET, DELETE /workspaces/{ws}/quota).

The figures are checked against a hand-computed fixture with shared layers (see `pushed`):

| package         | repository | blobs (bytes)                                    | manifests |
| --------------- | ---------- | ------------------------------------------------ | --------- |
| `acme/web/api`  | acme/web   | BASE 900, API 200, API2 500, CONFIG 37           | 2 * 577   |
| `acme/web/db`   | acme/web   | BASE 900, DB 300, CONFIG 37                      | 577       |
| `acme/site/www` | acme/site  | BASE 900, WWW 400, CONFIG 37                     | 577       |
| `globex/app`    | globex/app | BASE 900, CONFIG 37                              | 577       |

BASE and CONFIG are the same blobs everywhere. Every manifest has one config and two
layers of three-digit sizes, so each is 577 bytes of JSON.
"""

from __future__ import annotations

import base64

import httpx
import pytest

from cargohold.services.accounts import directory
from cargohold.services.registry import packages
from tests.functional.api.people import Api, assert_problem, email
from tests.functional.registry import Image, Registry, image_manifest, random_blob

CONFIG = b'{"architecture":"amd64","os":"linux"}'  # 37 bytes
MANIFEST = 577


async def push(api: Api, who: str, name: str, tag: str, image: Image) -> None:
    credentials = f"{email(who)}:{await api.token(who)}"
    auth = {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
    async with httpx.AsyncClient(
        transport=api.transport, base_url=api.client.base_url, headers=auth
    ) as client:
        await Registry(client, api.context).push_image(name, tag, image)


@pytest.fixture
async def pushed(api: Api) -> Api:
    base, config = random_blob(900), CONFIG
    images = {
        ("owner", "acme/web/api", "v1"): image_manifest([base, random_blob(200)], config),
        ("owner", "acme/web/api", "v2"): image_manifest([base, random_blob(500)], config),
        ("owner", "acme/web/db", "v1"): image_manifest([base, random_blob(300)], config),
        ("owner", "acme/site/www", "v1"): image_manifest([base, random_blob(400)], config),
        ("other", "globex/app", "v1"): image_manifest([base, base], config),
    }
    for (who, name, tag), image in images.items():
        assert len(image.manifest) == MANIFEST
        await push(api, who, name, tag, image)
    return api


def figures(items: list[dict[str, object]], key: str = "name") -> dict[object, object]:
    return {item[key]: item["bytes"] for item in items}


# The figures


async def test_package_usage_counts_each_blob_once_and_every_manifest(pushed: Api) -> None:
    response = await pushed.get("/packages/acme/web/api/-/usage", "owner")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "name": "acme/web/api",
        "bytes": 900 + 200 + 500 + 37 + 2 * 577,  # BASE once for both tags = 2791
        "blob_bytes": 900 + 200 + 500 + 37,
        "manifest_bytes": 2 * 577,
        "blob_count": 4,
        "manifest_count": 2,
        "shared_bytes": 900 + 37,  # BASE and CONFIG are linked by acme/web/db and /www too
    }


async def test_repository_usage_counts_layers_shared_by_its_packages_once(pushed: Api) -> None:
    response = await pushed.get("/workspaces/acme/repositories/web/usage", "owner")
    assert response.status_code == 200, response.text
    body = response.json()
    # api + db: BASE, API, API2, DB, CONFIG once each, and three manifests
    assert body["bytes"] == 900 + 200 + 500 + 300 + 37 + 3 * 577  # 3668
    assert body["package_count"] == 2
    # api (2791) + db (900 + 300 + 37 + 577 = 1814) - 3668: BASE and CONFIG twice
    assert body["shared_bytes"] == (2791 + 1814) - 3668 == 900 + 37
    assert [p["name"] for p in body["packages"]] == ["acme/web/api", "acme/web/db"]
    assert figures(body["packages"]) == {"acme/web/api": 2791, "acme/web/db": 1814}


async def test_workspace_usage_counts_layers_shared_across_repositories_once(
    pushed: Api,
) -> None:
    response = await pushed.get("/workspaces/acme/usage", "owner")
    assert response.status_code == 200, response.text
    body = response.json()
    # BASE, API, API2, DB, WWW, CONFIG once each, and four manifests
    assert body["bytes"] == 900 + 200 + 500 + 300 + 400 + 37 + 4 * 577  # 4645
    assert body["quota_bytes"] is None and body["percent_used"] is None
    # api 2791 + db 1814 + www (900 + 400 + 37 + 577 = 1914) - 4645: BASE and CONFIG 3 times
    assert body["shared_bytes"] == (2791 + 1814 + 1914) - 4645 == 2 * (900 + 37)
    assert [p["name"] for p in body["packages"]] == [
        "acme/web/api",
        "acme/site/www",
        "acme/web/db",
    ]
    assert figures(body["packages"]) == {
        "acme/web/api": 2791,
        "acme/site/www": 1914,
        "acme/web/db": 1814,
    }
    assert body["packages"][0]["repository"] == "acme/web"
    repositories = {r["full_name"]: r for r in body["repositories"]}
    assert [r["full_name"] for r in body["repositories"]] == ["acme/web", "acme/site"]
    assert repositories["acme/web"]["bytes"] == 3668
    assert repositories["acme/site"] == {
        "full_name": "acme/site",
        "bytes": 1914,
        "package_count": 1,
        "shared_bytes": 0,
    }


async def test_other_workspaces_sharing_a_layer_do_not_change_the_figure(pushed: Api) -> None:
    response = await pushed.get("/workspaces/globex/usage", "other")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["bytes"] == 900 + 37 + 577  # BASE (twice in its manifest, once here)
    assert body["shared_bytes"] == 0
    acme = (await pushed.get("/workspaces/acme/usage", "owner")).json()
    assert acme["bytes"] == 4645


async def test_a_workspace_whose_slug_prefixes_another_counts_only_its_own(
    pushed: Api,
) -> None:
    ctx = pushed.context
    async with ctx.db.transaction() as tx:
        owner = await directory.find_user(tx, email("owner"))
        await directory.create_workspace(tx, slug="acme-labs", owner=owner, now=ctx.now())
        await directory.create_project(tx, workspace="acme-labs", key="LAB", now=ctx.now())
        lab = await directory.create_repository(
            tx, full_name="acme-labs/lab", project_key="LAB", now=ctx.now()
        )
        await packages.create_package(tx, name="acme-labs/lab", repository=lab, now=ctx.now())
    await push(pushed, "owner", "acme-labs/lab", "v1", image_manifest([random_blob(700)] * 2))
    assert (await pushed.get("/workspaces/acme/usage", "owner")).json()["bytes"] == 4645


async def test_deleting_an_image_keeps_its_layers_counted_until_collected(pushed: Api) -> None:
    tags = (await pushed.get("/packages/acme/web/db/-/tags", "owner")).json()["items"]
    await pushed.delete("/packages/acme/web/db/-/tags/v1", "owner")
    digest = tags[0]["digest"]
    await pushed.context.db.execute("DELETE FROM manifests WHERE digest = :d", {"d": digest})
    body = (await pushed.get("/workspaces/acme/usage", "owner")).json()
    assert body["bytes"] == 4645 - 577  # the manifest went; its layers stay linked


async def test_an_empty_workspace_uses_nothing(api: Api) -> None:
    body = (await api.get("/workspaces/acme/usage", "owner")).json()
    assert body["bytes"] == 0 and body["shared_bytes"] == 0
    assert figures(body["packages"]) == {"acme/site/www": 0, "acme/web/api": 0, "acme/web/db": 0}


# Who sees what


async def test_readers_see_only_what_they_may_read_and_no_totals(pushed: Api) -> None:
    body = (await pushed.get("/workspaces/acme/usage", "reader")).json()
    assert figures(body["packages"]) == {
        "acme/web/api": 2791,
        "acme/site/www": 1914,
        "acme/web/db": 1814,
    }
    assert body["bytes"] is None and body["quota_bytes"] is None
    assert body["shared_bytes"] is None and body["percent_used"] is None
    outsider = (await pushed.get("/workspaces/acme/usage", "outsider")).json()
    assert figures(outsider["packages"]) == {"acme/site/www": 1914}
    assert [r["full_name"] for r in outsider["repositories"]] == ["acme/site"]
    anonymous = (await pushed.get("/workspaces/acme/usage")).json()
    assert figures(anonymous["packages"]) == {"acme/site/www": 1914}
    assert anonymous["bytes"] is None


async def test_members_see_the_total_even_of_packages_they_may_not_read(pushed: Api) -> None:
    body = (await pushed.get("/workspaces/acme/usage", "member")).json()
    assert figures(body["packages"]) == {"acme/site/www": 1914}
    assert body["bytes"] == 4645
    site_admin = (await pushed.get("/workspaces/acme/usage", "site_admin")).json()
    assert site_admin["bytes"] == 4645 and len(site_admin["packages"]) == 3


async def test_workspace_usage_is_404_where_nothing_may_be_read(pushed: Api) -> None:
    assert_problem(await pushed.get("/workspaces/globex/usage"), 404)
    assert_problem(await pushed.get("/workspaces/globex/usage", "outsider"), 404)
    assert_problem(await pushed.get("/workspaces/nope/usage", "owner"), 404)


async def test_repository_and_package_usage_need_read(pushed: Api) -> None:
    assert_problem(await pushed.get("/workspaces/acme/repositories/web/usage", "member"), 404)
    assert_problem(await pushed.get("/packages/acme/web/api/-/usage", "outsider"), 404)
    assert_problem(await pushed.get("/packages/acme/web/api/-/usage"), 404)
    assert (await pushed.get("/workspaces/acme/repositories/site/usage")).status_code == 200
    assert (await pushed.get("/packages/acme/site/www/-/usage")).status_code == 200
    response = await pushed.get("/packages/acme/web/api/-/usage", "reader", scope="read:package")
    assert response.status_code == 200


async def test_package_usage_route_is_not_taken_by_the_package_route(pushed: Api) -> None:
    response = await pushed.get("/packages/acme/web/api/-/usage", "owner")
    assert "blob_bytes" in response.json()
    assert (await pushed.get("/packages/acme/web/api", "owner")).json()["name"] == "acme/web/api"


# The quota


async def test_site_admins_set_and_remove_a_quota(pushed: Api) -> None:
    response = await pushed.put(
        "/workspaces/acme/quota", "site_admin", json={"quota_bytes": 10_000}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "workspace": "acme",
        "bytes": 4645,
        "quota_bytes": 10_000,
        "percent_used": 46.5,
    }
    usage = (await pushed.get("/workspaces/acme/usage", "owner")).json()
    assert usage["quota_bytes"] == 10_000 and usage["percent_used"] == 46.5
    assert (await pushed.get("/workspaces/acme", "owner")).json()["quota_bytes"] == 10_000
    assert (await pushed.get("/workspaces/acme/quota", "member")).json()["quota_bytes"] == 10_000
    removed = await pushed.delete("/workspaces/acme/quota", "site_admin")
    assert removed.status_code == 204
    assert (await pushed.get("/workspaces/acme", "owner")).json()["quota_bytes"] is None


async def test_only_site_admins_may_set_a_quota(pushed: Api) -> None:
    body = {"json": {"quota_bytes": 1}}
    refused = assert_problem(await pushed.put("/workspaces/acme/quota", "owner", **body), 403)
    assert "site admins" in refused["detail"]
    assert_problem(await pushed.delete("/workspaces/acme/quota", "owner"), 403)
    assert_problem(await pushed.put("/workspaces/acme/quota", "outsider", **body), 404)
    assert_problem(await pushed.put("/workspaces/acme/quota", None, **body), 401)
    narrow = await pushed.put("/workspaces/acme/quota", "site_admin", scope="write:package", **body)
    assert "admin:package" in assert_problem(narrow, 403)["detail"]
    assert (await pushed.get("/workspaces/acme", "owner")).json()["quota_bytes"] is None


async def test_a_quota_is_a_byte_count(pushed: Api) -> None:
    for bad in (-1, "10GiB", 2**63):
        response = await pushed.put(
            "/workspaces/acme/quota", "site_admin", json={"quota_bytes": bad}
        )
        assert_problem(response, 422)


async def test_the_quota_is_for_members_only(pushed: Api) -> None:
    assert_problem(await pushed.get("/workspaces/acme/quota", "reader"), 404)
    assert_problem(
        await pushed.put("/workspaces/nope/quota", "site_admin", json={"quota_bytes": 1}), 404
    )
