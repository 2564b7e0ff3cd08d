"""A package and each of its tags say how often they were pulled (`downloads`)."""

from __future__ import annotations

import base64

from cargohold.services.events import downloads
from tests.functional.api.people import Api, email


async def _pull(api: Api, name: str, reference: str) -> None:
    credentials = f"{email('owner')}:{await api.token('owner')}"
    basic = "Basic " + base64.b64encode(credentials.encode()).decode()
    response = await api.client.get(
        f"/v2/{name}/manifests/{reference}", headers={"Authorization": basic, "Accept": "*/*"}
    )
    assert response.status_code == 200, response.text


async def test_a_package_and_its_tags_show_their_downloads(api: Api) -> None:
    digest = await api.push("acme/web/api", "v1")
    await api.push("acme/web/api", "v2")
    for reference in ("v1", "v1", "v2", digest):
        await _pull(api, "acme/web/api", reference)
    await downloads.flush(api.context.db, api.context.downloads)
    package = await api.get("/packages/acme/web/api", "reader")
    assert package.json()["downloads"] == 4
    tags = await api.get("/packages/acme/web/api/-/tags", "reader")
    assert {t["name"]: t["downloads"] for t in tags.json()["items"]} == {"v1": 2, "v2": 1}
    listed = await api.get("/workspaces/acme/packages", "reader")
    counted = {p["name"]: p["downloads"] for p in listed.json()["items"]}
    assert counted["acme/web/api"] == 4 and counted["acme/web/db"] == 0


async def test_pulls_not_yet_flushed_are_not_shown(api: Api) -> None:
    await api.push("acme/web/api", "v1")
    await _pull(api, "acme/web/api", "v1")
    package = await api.get("/packages/acme/web/api", "reader")
    assert package.json()["downloads"] == 0
