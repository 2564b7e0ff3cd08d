"""The pages show what the registry stored, read only through the package's own links:
content that another package holds never shows, not even as a size. Whatever the registry
accepted renders, and what a page cannot read it marks unreadable."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from cargohold.oci import mediatypes as mt
from tests.functional.api.people import email
from tests.functional.registry import (
    Registry,
    digest_of,
    image_manifest,
    index_manifest,
    random_blob,
)
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
    ui: Ui,
    name: str,
    tag: str,
    payload: bytes,
    media_type: str = mt.OCI_MANIFEST,
    subject: str | None = None,
) -> str:
    """Store a manifest row and its tag as an earlier, laxer version of the registry
    accepted them (today's push refuses the manifest); its digest."""
    db = ui.api.context.db
    digest = digest_of(payload)
    async with db.transaction() as tx:
        package = await tx.fetchone("SELECT id FROM packages WHERE name = :n", {"n": name})
        assert package is not None
        await tx.execute(
            "INSERT INTO manifests (package_id, digest, media_type, payload, size, created_at,"
            " subject_digest, artifact_type) VALUES (:p, :d, :mt, :payload, :size, 0, :s, :at)",
            {
                "p": package["id"],
                "d": digest,
                "mt": media_type,
                "payload": payload,
                "size": len(payload),
                "s": subject,
                "at": "application/vnd.example.sig" if subject else None,
            },
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


UNREADABLE = {"en": "unreadable", "ja": "読み取れません"}


def next_to(html: str, label: str) -> str:
    """What a page shows for the field or section `label`: up to the next one."""
    return re.split(r"<dt>|<h[23]", html.split(f">{label}<", 1)[1], maxsplit=1)[0]


ODD_CONFIGS = {
    "created-past-9999-in-utc": ({"created": "9999-12-31T23:59:59-12:00"}, "Created"),
    "created-before-year-1-in-utc": ({"created": "0001-01-01T00:00:00+01:00"}, "Created"),
    "created-not-a-time": ({"created": 5}, "Created"),
    "labels-as-a-list": ({"config": {"Labels": ["a=b"]}}, "Labels"),
    "exposed-ports-as-a-list": ({"config": {"ExposedPorts": ["80/tcp"]}}, "Exposed ports"),
    "entrypoint-as-a-number": ({"config": {"Entrypoint": 5}}, "Entrypoint"),
    "config-as-a-string": ({"config": "x"}, "Labels"),
    "history-as-an-object": ({"history": {"created_by": "x"}}, "Build history"),
    "os-as-an-object": ({"os": {"a": 1}}, "OS / architecture"),
}


@pytest.mark.parametrize(("fields", "where"), ODD_CONFIGS.values(), ids=ODD_CONFIGS.keys())
@pytest.mark.parametrize("language", ["en", "ja"])
async def test_a_config_field_that_cannot_be_read_is_marked_unreadable(
    ui: Ui, fields: dict[str, object], where: str, language: str
) -> None:
    config = json.dumps({"architecture": "amd64", "os": "linux", **fields}).encode()
    async with registry_as(ui, "owner") as registry:
        await registry.push_image("acme/web/api", "v1", image_manifest([b"layer"], config))
    reader = await ui.as_("reader")
    reader.language = language

    page = await reader.get("/p/acme/web/api/-/tags/v1")

    assert page.status_code == 200
    assert UNREADABLE[language] in page.text
    if language == "en":
        assert UNREADABLE["en"] in next_to(page.text, where)


@pytest.mark.parametrize(
    "config",
    [b"not json", b"[1, 2]", b'{"a":' * 100_000 + b"1" + b"}" * 100_000],
    ids=["not-json", "not-an-object", "nested-too-deeply"],
)
async def test_a_config_that_is_not_a_json_object_is_marked_unreadable(
    ui: Ui, config: bytes
) -> None:
    async with registry_as(ui, "owner") as registry:
        await registry.push_image("acme/web/api", "v1", image_manifest([b"layer"], config))

    page = await (await ui.as_("reader")).get("/p/acme/web/api/-/tags/v1")

    assert page.status_code == 200
    assert "unreadable" in page.text


async def test_config_text_that_utf8_cannot_hold_shows_a_replacement_character(ui: Ui) -> None:
    config = b'{"config": {"Labels": {"note": "a\\ud800b"}, "Cmd": ["\\udfff"]}}'
    async with registry_as(ui, "owner") as registry:
        await registry.push_image("acme/web/api", "v1", image_manifest([b"layer"], config))

    page = await (await ui.as_("reader")).get("/p/acme/web/api/-/tags/v1")

    assert page.status_code == 200
    assert "a\ufffdb" in page.text and "\ufffd" in page.text


async def test_a_config_time_at_the_calendars_edge_in_utc_is_shown(ui: Ui) -> None:
    config = b'{"created": "9999-12-31T23:59:59.999999Z"}'
    async with registry_as(ui, "owner") as registry:
        await registry.push_image("acme/web/api", "v1", image_manifest([b"layer"], config))

    page = await (await ui.as_("reader")).get("/p/acme/web/api/-/tags/v1")

    assert page.status_code == 200
    assert "9999" in page.text and "unreadable" not in page.text


def huge_layer() -> bytes:
    document = json.loads(image_manifest([b"layer"]).manifest)
    document["layers"][0]["size"] = 10**400
    return json.dumps(document).encode()


def huge_child() -> bytes:
    document = json.loads(index_manifest([image_manifest([b"layer"])]).manifest)
    document["manifests"][0]["size"] = 10**400
    return json.dumps(document).encode()


STORED_BEFORE = {
    "layer-size-10-to-the-400": (huge_layer(), mt.OCI_MANIFEST),
    "child-size-10-to-the-400": (huge_child(), mt.OCI_INDEX),
    "annotation-with-a-lone-surrogate": (
        image_manifest([b"layer"], annotations={"note": "\ud800"}).manifest,
        mt.OCI_MANIFEST,
    ),
    "a-key-twice": (
        image_manifest([b"layer"]).manifest.replace(
            b'"schemaVersion": 2', b'"schemaVersion": 2, "schemaVersion": 2'
        ),
        mt.OCI_MANIFEST,
    ),
}


@pytest.mark.parametrize(("payload", "media_type"), STORED_BEFORE.values(), ids=STORED_BEFORE)
@pytest.mark.parametrize("language", ["en", "ja"])
async def test_a_manifest_stored_before_it_was_refused_renders_marked_unreadable(
    ui: Ui, payload: bytes, media_type: str, language: str
) -> None:
    subject = await ui.api.push("acme/web/api", "v1")
    digest = await store_as_pushed_before(ui, "acme/web/api", "old", payload, media_type)
    referrer = await store_as_pushed_before(
        ui, "acme/web/api", "old-sig", payload + b" ", media_type, subject=subject
    )
    reader = await ui.as_("reader")
    reader.language = language

    for path in (
        "/p/acme/web/api",
        "/p/acme/web/api/-/tags/old",
        f"/p/acme/web/api/-/manifests/{digest}",
        f"/p/acme/web/api/-/manifests/{referrer}",
        "/p/acme/web/api/-/tags/v1",  # lists the referrer
    ):
        page = await reader.get(path)
        assert page.status_code == 200, path
        if "/-/" in path and path.endswith(("old", digest, referrer)):
            assert UNREADABLE[language] in page.text, path
    package = await reader.get("/p/acme/web/api")
    if media_type == mt.OCI_INDEX:
        assert UNREADABLE[language] in package.text
    referrers = await ui.api.client.get(
        f"/v2/acme/web/api/referrers/{subject}", headers=await registry_headers(ui)
    )
    assert referrers.status_code == 200
    assert referrer in referrers.text


async def registry_headers(ui: Ui) -> dict[str, str]:
    credentials = f"{email('owner')}:{await ui.api.token('owner')}"
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
