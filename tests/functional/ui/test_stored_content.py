"""The pages show what the registry stored, read only through the package's own links:
content that another package holds never shows, not even as a size."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from cargohold.oci import mediatypes as mt
from tests.functional.api.people import email
from tests.functional.registry import Registry, digest_of, image_manifest, random_blob
from tests.functional.ui.conftest import Ui

SECRET = b'{"config": {"Labels": {"secret": "hunter2"}, "Env": ["TOKEN=hunter2"]}}'


@asynccontextmanager
async def registry_as(ui: Ui, who: str) -> AsyncIterator[Registry]:
    """A /v2 client of `who`, with Basic email + API token."""
    credentials = f"{email(who)}:{await ui.api.token(who)}"
    auth = {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
    async with httpx.AsyncClient(
        transport=ui.api.transport, base_url="http://registry.test", headers=auth
    ) as client:
        yield Registry(client, ui.api.context)


async def store_as_pushed_before(
    ui: Ui, name: str, tag: str, payload: bytes, media_type: str = mt.OCI_MANIFEST
) -> str:
    """Store a manifest row and its tag as an earlier, laxer version of the registry
    accepted them (today's push refuses the manifest); its digest."""
    db = ui.api.context.db
    digest = digest_of(payload)
    async with db.transaction() as tx:
        package = await tx.fetchone("SELECT id FROM packages WHERE name = :n", {"n": name})
        assert package is not None
        await tx.execute(
            "INSERT INTO manifests (package_id, digest, media_type, payload, size, created_at)"
            " VALUES (:p, :d, :mt, :payload, :size, 0)",
            {"p": package["id"], "d": digest, "mt": media_type, "payload": payload, "size": 1},
        )
        row = await tx.fetchone("SELECT id FROM manifests WHERE digest = :d", {"d": digest})
        assert row is not None
        await tx.execute(
            "INSERT INTO tags (package_id, name, manifest_id, updated_at) VALUES (:p, :t, :m, 0)",
            {"p": package["id"], "t": tag, "m": row["id"]},
        )
    return digest


async def test_a_config_the_package_does_not_link_is_never_read(ui: Ui) -> None:
    async with registry_as(ui, "other") as registry:
        secret = await registry.push_blob("globex/app", SECRET)
    document = json.loads(image_manifest([]).manifest)
    document["config"] = {
        "mediaType": mt.OCI_NONDISTRIBUTABLE_PREFIX + "v1+json",
        "digest": secret,
        "size": len(SECRET),
        "urls": ["https://example.com/config"],
    }
    await store_as_pushed_before(ui, "acme/web/api", "stolen", json.dumps(document).encode())

    page = await (await ui.as_("owner")).get("/p/acme/web/api/-/tags/stolen")

    assert page.status_code == 200
    assert "hunter2" not in page.text and "secret" not in page.text


async def test_an_image_size_counts_only_blobs_the_package_links(ui: Ui) -> None:
    big = random_blob(3_000_000)
    async with registry_as(ui, "other") as registry:
        foreign = await registry.push_blob("globex/app", big)
    image = image_manifest([random_blob(64)])
    document = json.loads(image.manifest)
    document["layers"].append(
        {
            "mediaType": mt.OCI_NONDISTRIBUTABLE_PREFIX + "v1.tar+gzip",
            "digest": foreign,
            "size": len(big),
            "urls": ["https://example.com/layer"],
        }
    )
    async with registry_as(ui, "owner") as registry:
        for blob in image.blobs:
            await registry.push_blob("acme/web/api", blob)
        pushed = await registry.client.put(
            "/v2/acme/web/api/manifests/v1",
            content=json.dumps(document).encode(),
            headers={"Content-Type": mt.OCI_MANIFEST},
        )
        assert pushed.status_code == 201, pushed.text

    page = await (await ui.as_("owner")).get("/p/acme/web/api")

    row = re.search(r'href="/p/acme/web/api/-/tags/v1".*?</tr>', page.text, re.S)
    assert row is not None
    assert "MB" not in row.group(0)
