"""GET, HEAD, PUT and DELETE /v2/<name>/manifests/<reference> (end-3, end-7, end-9)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from cargohold.oci import mediatypes as mt
from cargohold.oci.digest import Digest
from cargohold.storage.paths import blob_key
from tests.functional.registry import (
    BAD_DIGESTS,
    UNKNOWN_DIGEST,
    Image,
    Registry,
    descriptor,
    digest_of,
    error_code,
    image_manifest,
    index_manifest,
    random_blob,
)

NAME = "acme/web"
KINDS = [mt.OCI_MANIFEST, mt.DOCKER_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST]
CHILD_KIND = {mt.OCI_INDEX: mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_LIST: mt.DOCKER_MANIFEST}


def reformatted(image: Image) -> Image:
    """The same document with unusual whitespace: stored bytes must never be re-serialised."""
    document = json.loads(image.manifest)
    payload = json.dumps(document, indent=3, sort_keys=True).encode() + b"\n\n"
    return Image(payload, image.media_type, image.blobs)


async def prepare(registry: Registry, media_type: str, name: str = NAME) -> Image:
    """A manifest of `media_type` whose blobs and children are already in `name`."""
    if media_type in CHILD_KIND:
        children = [
            image_manifest([random_blob()], media_type=CHILD_KIND[media_type]) for _ in range(2)
        ]
        for child in children:
            await registry.push_image(name, child.digest, child)
        return reformatted(index_manifest(children, media_type))
    image = reformatted(image_manifest([random_blob(), random_blob()], media_type=media_type))
    for blob in image.blobs:
        await registry.push_blob(name, blob)
    return image


async def put(
    registry: Registry,
    reference: str,
    payload: bytes,
    content_type: str | None = mt.OCI_MANIFEST,
    name: str = NAME,
) -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    return await registry.client.put(
        f"/v2/{name}/manifests/{reference}", content=payload, headers=headers
    )


async def stored_nothing(registry: Registry) -> None:
    assert await registry.rows("manifests") == []
    assert await registry.rows("tags") == []
    assert await registry.rows("manifest_references") == []


def message(response: httpx.Response) -> str:
    text: str = response.json()["errors"][0]["message"]
    return text


def with_document(**changes: Any) -> bytes:
    document = json.loads(image_manifest([b"layer"]).manifest)
    document.update(changes)
    return json.dumps(document).encode()


# Push and pull of every manifest kind


@pytest.mark.parametrize("media_type", KINDS)
async def test_put_manifest_is_201_with_location_and_digest(
    registry: Registry, media_type: str
) -> None:
    image = await prepare(registry, media_type)

    response = await put(registry, "v1", image.manifest, media_type)

    assert response.status_code == 201, response.text
    assert response.headers["docker-content-digest"] == image.digest
    assert response.headers["location"] == f"/v2/{NAME}/manifests/{image.digest}"
    assert "oci-subject" not in response.headers
    pulled = await registry.client.get(response.headers["location"])
    assert pulled.content == image.manifest


@pytest.mark.parametrize("media_type", KINDS)
@pytest.mark.parametrize("by", ["tag", "digest"])
async def test_get_manifest_is_the_exact_bytes_with_the_pushed_content_type(
    registry: Registry, media_type: str, by: str
) -> None:
    image = await prepare(registry, media_type)
    await registry.push_image(NAME, "v1", image)

    reference = "v1" if by == "tag" else image.digest
    response = await registry.client.get(
        f"/v2/{NAME}/manifests/{reference}", headers={"Accept": media_type}
    )

    assert response.status_code == 200
    assert response.content == image.manifest
    assert response.headers["content-type"] == media_type
    assert response.headers["docker-content-digest"] == image.digest
    assert response.headers["content-length"] == str(len(image.manifest))
    assert response.headers["etag"] == f'"{image.digest}"'


@pytest.mark.parametrize("media_type", KINDS)
async def test_head_manifest_has_digest_type_and_length_but_no_body(
    registry: Registry, media_type: str
) -> None:
    image = await prepare(registry, media_type)
    await registry.push_image(NAME, "v1", image)

    response = await registry.raw("HEAD", f"/v2/{NAME}/manifests/v1")

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["docker-content-digest"] == image.digest
    assert response.headers["content-length"] == str(len(image.manifest))
    assert response.headers["content-type"] == media_type


async def test_manifest_without_media_type_field_takes_the_content_type(
    registry: Registry,
) -> None:
    document = json.loads(image_manifest([b"layer"]).manifest)
    del document["mediaType"]
    payload = json.dumps(document).encode()
    for blob in image_manifest([b"layer"]).blobs:
        await registry.push_blob(NAME, blob)

    response = await put(registry, "v1", payload, mt.OCI_MANIFEST)

    assert response.status_code == 201, response.text
    pulled = await registry.client.get(f"/v2/{NAME}/manifests/v1")
    assert pulled.headers["content-type"] == mt.OCI_MANIFEST
    assert pulled.content == payload


async def test_put_without_content_type_uses_the_media_type_field(registry: Registry) -> None:
    image = await prepare(registry, mt.DOCKER_MANIFEST)

    response = await put(registry, "v1", image.manifest, None)

    assert response.status_code == 201, response.text
    pulled = await registry.client.get(f"/v2/{NAME}/manifests/v1")
    assert pulled.headers["content-type"] == mt.DOCKER_MANIFEST


async def test_content_type_parameters_are_ignored(registry: Registry) -> None:
    image = await prepare(registry, mt.OCI_MANIFEST)

    response = await put(registry, "v1", image.manifest, f"{mt.OCI_MANIFEST}; charset=utf-8")

    assert response.status_code == 201, response.text
    pulled = await registry.client.get(f"/v2/{NAME}/manifests/v1")
    assert pulled.headers["content-type"] == mt.OCI_MANIFEST


async def test_pushing_the_same_manifest_again_is_idempotent(registry: Registry) -> None:
    image = await prepare(registry, mt.OCI_MANIFEST)
    await registry.push_image(NAME, "v1", image)

    again = await put(registry, "v1", image.manifest)

    assert again.status_code == 201
    assert again.headers["docker-content-digest"] == image.digest
    assert len(await registry.rows("manifests")) == 1
    assert len(await registry.rows("tags")) == 1


async def test_manifest_pushed_to_one_repository_is_unknown_in_another(
    registry: Registry,
) -> None:
    image = await prepare(registry, mt.OCI_MANIFEST, "acme/a")
    await registry.push_image("acme/a", "v1", image)
    await registry.push_blob("acme/b", random_blob())

    for reference in ("v1", image.digest):
        response = await registry.client.get(f"/v2/acme/b/manifests/{reference}")
        assert response.status_code == 404
        assert error_code(response) == "MANIFEST_UNKNOWN"


# Content negotiation


@pytest.mark.parametrize(
    ("stored", "accept", "status"),
    [
        (mt.OCI_MANIFEST, [mt.OCI_MANIFEST], 200),
        (mt.OCI_MANIFEST, [f"{mt.OCI_MANIFEST};q=0.5", mt.DOCKER_MANIFEST], 200),
        (mt.OCI_MANIFEST, [mt.DOCKER_MANIFEST], 404),
        (mt.OCI_MANIFEST, [mt.OCI_INDEX], 404),
        (mt.DOCKER_MANIFEST, [mt.DOCKER_MANIFEST], 200),
        (mt.DOCKER_MANIFEST, [mt.OCI_MANIFEST, mt.OCI_INDEX], 404),
        (mt.OCI_INDEX, [mt.OCI_MANIFEST, mt.OCI_INDEX], 200),
        (mt.OCI_INDEX, [mt.OCI_MANIFEST], 404),
        (mt.DOCKER_MANIFEST_LIST, [mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST], 200),
        (mt.DOCKER_MANIFEST_LIST, [mt.OCI_INDEX], 404),
        (mt.DOCKER_MANIFEST_LIST, ["*/*"], 200),
        (mt.OCI_INDEX, ["application/*"], 200),
        (mt.DOCKER_MANIFEST, ["application/json"], 200),
        (mt.OCI_MANIFEST, [], 200),
    ],
)
async def test_accept_header_selects_which_manifest_kinds_the_client_takes(
    registry: Registry, stored: str, accept: list[str], status: int
) -> None:
    image = await prepare(registry, stored)
    await registry.push_image(NAME, "v1", image)

    response = await registry.client.get(
        f"/v2/{NAME}/manifests/v1", headers={"Accept": ", ".join(accept)} if accept else {}
    )

    assert response.status_code == status
    if status == 200:
        assert response.content == image.manifest
        assert response.headers["content-type"] == stored
    else:
        assert error_code(response) == "MANIFEST_UNKNOWN"
        assert stored in message(response)


async def test_accept_split_over_several_header_lines_is_combined(registry: Registry) -> None:
    image = await prepare(registry, mt.OCI_INDEX)
    await registry.push_image(NAME, "v1", image)

    response = await registry.client.get(
        f"/v2/{NAME}/manifests/v1",
        headers=[("Accept", mt.DOCKER_MANIFEST), ("Accept", mt.OCI_INDEX)],
    )

    assert response.status_code == 200
    assert response.content == image.manifest


# By digest, tags that move, size limits


async def test_put_by_digest_stores_the_manifest_without_a_tag(registry: Registry) -> None:
    image = await prepare(registry, mt.OCI_MANIFEST)

    response = await put(registry, image.digest, image.manifest)

    assert response.status_code == 201
    assert response.headers["docker-content-digest"] == image.digest
    assert await registry.rows("tags") == []
    assert (await registry.client.get(f"/v2/{NAME}/manifests/{image.digest}")).status_code == 200


async def test_put_by_sha512_digest_is_addressed_by_that_digest(registry: Registry) -> None:
    image = await prepare(registry, mt.OCI_MANIFEST)
    digest = digest_of(image.manifest, "sha512")

    response = await put(registry, digest, image.manifest)

    assert response.status_code == 201, response.text
    assert response.headers["docker-content-digest"] == digest
    pulled = await registry.client.get(f"/v2/{NAME}/manifests/{digest}")
    assert pulled.content == image.manifest


async def test_put_by_digest_that_does_not_match_the_body_is_400_digest_invalid(
    registry: Registry,
) -> None:
    image = await prepare(registry, mt.OCI_MANIFEST)
    wrong = digest_of(b"another manifest")

    response = await put(registry, wrong, image.manifest)

    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    assert wrong in message(response)
    assert image.digest in message(response)
    await stored_nothing(registry)


async def test_tag_moves_to_the_newly_pushed_manifest(registry: Registry) -> None:
    first = await prepare(registry, mt.OCI_MANIFEST)
    second = await prepare(registry, mt.OCI_MANIFEST)
    await registry.push_image(NAME, "v1", first)

    response = await put(registry, "v1", second.manifest)

    assert response.status_code == 201
    pulled = await registry.client.get(f"/v2/{NAME}/manifests/v1")
    assert pulled.content == second.manifest
    assert len(await registry.rows("tags")) == 1
    old = await registry.client.get(f"/v2/{NAME}/manifests/{first.digest}")
    assert old.content == first.manifest


async def test_refused_push_leaves_the_tag_where_it_was(registry: Registry) -> None:
    first = await prepare(registry, mt.OCI_MANIFEST)
    await registry.push_image(NAME, "v1", first)
    broken = image_manifest([random_blob()])  # its blobs were never pushed

    response = await put(registry, "v1", broken.manifest)

    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    pulled = await registry.client.get(f"/v2/{NAME}/manifests/v1")
    assert pulled.content == first.manifest
    assert len(await registry.rows("manifests")) == 1


@pytest.mark.settings(max_manifest_size=2048)
async def test_manifest_above_the_limit_is_413(registry: Registry) -> None:
    image = await prepare(registry, mt.OCI_MANIFEST)
    payload = with_document(annotations={"pad": "x" * 3000})

    response = await put(registry, "v1", payload)

    assert response.status_code == 413
    assert error_code(response) == "SIZE_INVALID"
    assert "2048" in message(response)
    await stored_nothing(registry)
    assert image.blobs


@pytest.mark.settings(max_manifest_size=2048)
async def test_streamed_manifest_above_the_limit_is_413(registry: Registry) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    response = await registry.client.put(
        f"/v2/{NAME}/manifests/v1", content=body(), headers={"Content-Type": mt.OCI_MANIFEST}
    )

    assert response.status_code == 413
    assert error_code(response) == "SIZE_INVALID"
    await stored_nothing(registry)


async def test_manifest_of_4_mib_is_accepted(registry: Registry) -> None:
    image = image_manifest([b"layer"])
    for blob in image.blobs:
        await registry.push_blob(NAME, blob)
    document = json.loads(image.manifest)
    document["annotations"] = {"pad": ""}
    padding = 4 * 1024 * 1024 - len(json.dumps(document).encode())
    document["annotations"]["pad"] = "x" * padding
    payload = json.dumps(document).encode()
    assert len(payload) == 4 * 1024 * 1024

    response = await put(registry, "v1", payload)

    assert response.status_code == 201, response.text[:300]
    assert (await registry.client.get(f"/v2/{NAME}/manifests/v1")).content == payload


@pytest.mark.parametrize("length", ["9" * 5000, "9" * 20], ids=["5000-digits", "20-digits"])
async def test_huge_declared_content_length_is_413_not_a_server_error(
    registry: Registry, length: str
) -> None:
    response = await registry.raw(
        "PUT",
        f"/v2/{NAME}/manifests/v1",
        headers={"content-type": mt.OCI_MANIFEST, "content-length": length},
        body=b"{}",
    )

    assert response.status_code == 413
    assert error_code(response) == "SIZE_INVALID"
    await stored_nothing(registry)


@pytest.mark.parametrize("length", ["abc", "²", "-5", "1.5"])
async def test_malformed_content_length_on_manifest_put_is_never_a_server_error(
    registry: Registry, length: str
) -> None:
    image = await prepare(registry, mt.OCI_MANIFEST)

    response = await registry.raw(
        "PUT",
        f"/v2/{NAME}/manifests/v1",
        headers={"content-type": mt.OCI_MANIFEST, "content-length": length},
        body=image.manifest,
    )

    assert response.status_code in (201, 400), response.text


# What a manifest references must already be there


async def test_missing_layer_is_400_manifest_blob_unknown(registry: Registry) -> None:
    layer = random_blob()
    image = image_manifest([layer])
    await registry.push_blob(NAME, image.blobs[0])  # the config, not the layer

    response = await put(registry, "v1", image.manifest)

    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    assert digest_of(layer) in message(response)
    await stored_nothing(registry)


async def test_missing_config_is_400_manifest_blob_unknown(registry: Registry) -> None:
    image = image_manifest([random_blob()])
    await registry.push_blob(NAME, image.blobs[1])

    response = await put(registry, "v1", image.manifest)

    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    assert digest_of(image.blobs[0]) in message(response)
    await stored_nothing(registry)


async def test_blob_in_another_repository_does_not_count(registry: Registry) -> None:
    image = image_manifest([random_blob()])
    for blob in image.blobs:
        await registry.push_blob("acme/other", blob)

    response = await put(registry, "v1", image.manifest)

    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    await stored_nothing(registry)
    assert [row["name"] for row in await registry.rows("packages")] == ["acme/other"]


@pytest.mark.parametrize("media_type", [mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST])
async def test_missing_child_manifest_is_400_manifest_blob_unknown(
    registry: Registry, media_type: str
) -> None:
    present = image_manifest([random_blob()], media_type=CHILD_KIND[media_type])
    missing = image_manifest([random_blob()], media_type=CHILD_KIND[media_type])
    await registry.push_image(NAME, present.digest, present)
    for blob in missing.blobs:
        await registry.push_blob(NAME, blob)  # its blobs, but not the manifest itself
    index = index_manifest([present, missing], media_type)

    response = await put(registry, "v1", index.manifest, media_type)

    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    assert missing.digest in message(response)
    assert len(await registry.rows("manifests")) == 1
    assert await registry.rows("tags") == []


async def test_child_manifest_in_another_repository_does_not_count(registry: Registry) -> None:
    child = image_manifest([random_blob()])
    await registry.push_image("acme/other", child.digest, child)

    response = await put(registry, "v1", index_manifest([child]).manifest, mt.OCI_INDEX)

    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    assert child.digest in message(response)


async def test_child_that_is_only_a_blob_is_not_a_manifest(registry: Registry) -> None:
    child = image_manifest([random_blob()])
    await registry.push_blob(NAME, child.manifest)

    response = await put(registry, "v1", index_manifest([child]).manifest, mt.OCI_INDEX)

    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"


async def test_descriptor_with_the_wrong_size_is_400_manifest_invalid(registry: Registry) -> None:
    layer = random_blob(100)
    image = image_manifest([layer])
    for blob in image.blobs:
        await registry.push_blob(NAME, blob)
    document = json.loads(image.manifest)
    document["layers"][0]["size"] = 99

    response = await put(registry, "v1", json.dumps(document).encode())

    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_INVALID"
    assert digest_of(layer) in message(response)
    await stored_nothing(registry)


async def test_foreign_layer_with_urls_need_not_be_pushed(registry: Registry) -> None:
    image = image_manifest([random_blob()], media_type=mt.DOCKER_MANIFEST)
    await registry.push_blob(NAME, image.blobs[0])
    document = json.loads(image.manifest)
    document["layers"][0]["mediaType"] = mt.DOCKER_FOREIGN_LAYER
    document["layers"][0]["urls"] = ["https://example.com/layer.tar.gz"]

    response = await put(registry, "v1", json.dumps(document).encode(), mt.DOCKER_MANIFEST)

    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "media_type", [mt.DOCKER_FOREIGN_LAYER, mt.OCI_NONDISTRIBUTABLE_PREFIX + "v1+json"]
)
async def test_a_config_is_never_foreign_it_must_be_a_blob_of_the_package(
    registry: Registry, media_type: str
) -> None:
    private = b'{"config": {"Env": ["PASSWORD=hunter2"]}}'
    await registry.push_blob("acme/other", private)
    image = image_manifest([random_blob()], private)
    await registry.push_blob(NAME, image.blobs[1])
    document = json.loads(image.manifest)
    document["config"].update(mediaType=media_type, urls=["https://example.com/config"])

    response = await put(registry, "v1", json.dumps(document).encode())

    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    assert digest_of(private) in message(response)
    await stored_nothing(registry)


async def test_subject_may_be_missing_and_yields_oci_subject(registry: Registry) -> None:
    subject = image_manifest([random_blob()])  # never pushed
    referrer = image_manifest(
        [b"signature"],
        config=b"{}",
        config_media_type=mt.OCI_EMPTY,
        subject=descriptor(mt.OCI_MANIFEST, subject.manifest),
        artifact_type="application/vnd.example.signature",
    )
    for blob in referrer.blobs:
        await registry.push_blob(NAME, blob)

    response = await put(registry, referrer.digest, referrer.manifest)

    assert response.status_code == 201, response.text
    assert response.headers["oci-subject"] == subject.digest


async def test_subject_that_exists_also_yields_oci_subject(registry: Registry) -> None:
    subject = await prepare(registry, mt.OCI_MANIFEST)
    await registry.push_image(NAME, "v1", subject)
    referrer = image_manifest([b"sbom"], subject=descriptor(mt.OCI_MANIFEST, subject.manifest))

    response = await registry.put_manifest(NAME, "sbom", referrer)

    assert response.status_code == 201
    assert response.headers["oci-subject"] == subject.digest


# Bad documents, bad media types, bad references


INVALID_DOCUMENTS = {
    "not-json": b"this is not json",
    "empty": b"",
    "invalid-utf8": b'{"schemaVersion": 2, "mediaType": "\xff\xfe"}',
    "array": b"[]",
    "string": b'"manifest"',
    "truncated": image_manifest([b"layer"]).manifest[:-10],
    "schema-version-1": with_document(schemaVersion=1),
    "schema-version-string": with_document(schemaVersion="2"),
    "schema-version-float": with_document(schemaVersion=2.0),
    "schema-version-true": with_document(schemaVersion=True),
    "not-a-number": with_document(x=float("nan")),
    "no-config": with_document(config=None),
    "config-not-object": with_document(config="sha256:abc"),
    "layers-not-list": with_document(layers={"a": 1}),
    "layer-digest-malformed": with_document(
        layers=[{"mediaType": "x", "digest": "sha256:xyz", "size": 1}]
    ),
    "layer-digest-md5": with_document(
        layers=[{"mediaType": "x", "digest": "md5:" + "a" * 32, "size": 1}]
    ),
    "layer-size-negative": with_document(
        layers=[{"mediaType": "x", "digest": UNKNOWN_DIGEST, "size": -1}]
    ),
    "layer-size-past-int64": with_document(
        layers=[{"mediaType": "x", "digest": UNKNOWN_DIGEST, "size": 10**400}]
    ),
    "layer-size-string": with_document(
        layers=[{"mediaType": "x", "digest": UNKNOWN_DIGEST, "size": "1"}]
    ),
    "layer-without-media-type": with_document(layers=[{"digest": UNKNOWN_DIGEST, "size": 1}]),
    "annotations-not-strings": with_document(annotations={"a": 1}),
    "artifact-type-not-string": with_document(artifactType=5),
    "subject-not-descriptor": with_document(subject="sha256:abc"),
    "deeply-nested": b'{"schemaVersion": 2, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "deeply-nested-objects": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
}


@pytest.mark.parametrize("payload", INVALID_DOCUMENTS.values(), ids=INVALID_DOCUMENTS.keys())
async def test_invalid_manifest_document_is_400_manifest_invalid_and_stores_nothing(
    registry: Registry, payload: bytes
) -> None:
    for blob in image_manifest([b"layer"]).blobs:
        await registry.push_blob(NAME, blob)

    response = await put(registry, "v1", payload)

    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_INVALID"
    await stored_nothing(registry)


LONE = "\ud800"  # sent as the JSON escape \\ud800: valid JSON, but no Unicode text
LONE_SURROGATES: dict[str, tuple[bytes, str | None]] = {
    "annotation": (with_document(annotations={"note": LONE}), mt.OCI_MANIFEST),
    "artifact-type": (with_document(artifactType=LONE), mt.OCI_MANIFEST),
    "config-media-type": (
        with_document(config={"mediaType": LONE, "digest": UNKNOWN_DIGEST, "size": 1}),
        mt.OCI_MANIFEST,
    ),
    "media-type-without-content-type": (with_document(mediaType=LONE), None),
}


@pytest.mark.parametrize(
    ("payload", "content_type"), LONE_SURROGATES.values(), ids=LONE_SURROGATES.keys()
)
async def test_a_lone_surrogate_is_400_manifest_invalid_and_never_echoed(
    registry: Registry, payload: bytes, content_type: str | None
) -> None:
    for blob in image_manifest([b"layer"]).blobs:
        await registry.push_blob(NAME, blob)

    response = await put(registry, "v1", payload, content_type)

    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_INVALID"
    assert "not valid Unicode" in message(response)
    response.content.decode("utf-8")
    await stored_nothing(registry)


@pytest.mark.parametrize(
    ("original", "twice", "key"),
    [
        (b'"schemaVersion": 2', b'"schemaVersion": 1, "schemaVersion": 2', "schemaVersion"),
        (b'"mediaType": "', b'"mediaType": "text/plain", "mediaType": "', "mediaType"),
        (b'"layers": [{', b'"layers": [{"digest": "sha256:0", ', "digest"),
    ],
)
async def test_a_key_twice_in_one_object_is_400_manifest_invalid_naming_it(
    registry: Registry, original: bytes, twice: bytes, key: str
) -> None:
    image = image_manifest([random_blob()])
    for blob in image.blobs:
        await registry.push_blob(NAME, blob)
    payload = image.manifest.replace(original, twice, 1)
    assert payload != image.manifest

    response = await put(registry, "v1", payload)

    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_INVALID"
    assert f"the key {key!r} appears twice" in message(response)
    await stored_nothing(registry)


async def test_invalid_json_error_says_so(registry: Registry) -> None:
    response = await put(registry, "v1", b"{not json")

    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_INVALID"
    assert "JSON" in message(response)
    assert await registry.rows("packages") == []


async def test_index_without_manifests_list_is_400(registry: Registry) -> None:
    payload = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX}).encode()

    response = await put(registry, "v1", payload, mt.OCI_INDEX)

    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_INVALID"
    assert "manifests" in message(response)


@pytest.mark.parametrize(
    ("content_type", "body_media_type"),
    [
        ("application/json", None),
        ("application/octet-stream", None),
        ("text/plain", None),
        (None, None),
        (mt.DOCKER_MANIFEST, mt.OCI_MANIFEST),
        (mt.OCI_INDEX, mt.OCI_MANIFEST),
        (mt.OCI_MANIFEST, "application/vnd.example.unknown+json"),
        ("application/vnd.example.unknown+json", "application/vnd.example.unknown+json"),
    ],
)
async def test_wrong_or_unknown_media_type_is_400_manifest_invalid(
    registry: Registry, content_type: str | None, body_media_type: str | None
) -> None:
    image = image_manifest([b"layer"])
    for blob in image.blobs:
        await registry.push_blob(NAME, blob)
    document = json.loads(image.manifest)
    document.pop("mediaType")
    if body_media_type is not None:
        document["mediaType"] = body_media_type

    response = await put(registry, "v1", json.dumps(document).encode(), content_type)

    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_INVALID"
    assert "media" in message(response).lower() or "Content-Type" in message(response)
    await stored_nothing(registry)


async def test_huge_content_type_is_400_with_a_bounded_message(registry: Registry) -> None:
    image = await prepare(registry, mt.OCI_MANIFEST)

    response = await put(registry, "v1", image.manifest, "application/x-" + "a" * 1_000_000)

    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_INVALID"
    assert len(response.content) < 10_000
    await stored_nothing(registry)


VALID_TAGS = ["v1", "latest", "_", "0", "A.b-C_9", "v1.2.3-rc.1", "a" * 128, "sha256"]
INVALID_TAGS = {
    "leading-dot": ".hidden",
    "leading-dash": "-v1",
    "too-long": "a" * 129,
    "space": "v%201",
    "plus": "v1+build",
    "non-ascii": "v%C3%A9",
    "at-sign": "v1@x",
    "huge": "a" * 100_000,
    "conformance": ".INVALID_MANIFEST_NAME",  # what the OCI conformance suite asks for
}


@pytest.mark.parametrize("tag", VALID_TAGS)
async def test_valid_tags_are_accepted(registry: Registry, tag: str) -> None:
    image = await prepare(registry, mt.OCI_MANIFEST)

    response = await put(registry, tag, image.manifest)

    assert response.status_code == 201, response.text
    tags = await registry.client.get(f"/v2/{NAME}/tags/list")
    assert tags.json()["tags"] == [tag]


@pytest.mark.parametrize("tag", INVALID_TAGS.values(), ids=INVALID_TAGS.keys())
async def test_putting_an_invalid_tag_is_400_tag_invalid_and_stores_nothing(
    registry: Registry, tag: str
) -> None:
    image = await prepare(registry, mt.OCI_MANIFEST)

    response = await registry.raw(
        "PUT",
        f"/v2/{NAME}/manifests/{tag}",
        headers={"content-type": mt.OCI_MANIFEST},
        body=image.manifest,
    )

    assert response.status_code == 400
    assert error_code(response) == "TAG_INVALID"
    assert "tag" in message(response)
    assert len(message(response)) < 1000
    await stored_nothing(registry)


@pytest.mark.parametrize("tag", INVALID_TAGS.values(), ids=INVALID_TAGS.keys())
@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE"])
async def test_reading_or_deleting_an_invalid_tag_is_404_manifest_unknown(
    registry: Registry, tag: str, method: str
) -> None:
    image = await prepare(registry, mt.OCI_MANIFEST)
    await registry.push_image(NAME, "v1", image)

    response = await registry.raw(method, f"/v2/{NAME}/manifests/{tag}")

    assert response.status_code == 404
    if method != "HEAD":
        assert error_code(response) == "MANIFEST_UNKNOWN"
        assert "not a valid tag" in message(response)
        assert len(message(response)) < 1000
    assert len(await registry.rows("tags")) == 1


async def test_an_invalid_tag_in_an_unknown_repository_is_404_name_unknown(
    registry: Registry,
) -> None:
    response = await registry.client.get("/v2/acme/nothing/manifests/.INVALID_MANIFEST_NAME")

    assert response.status_code == 404
    assert error_code(response) == "NAME_UNKNOWN"


async def test_tag_longer_than_128_characters_names_the_limit(registry: Registry) -> None:
    image = await prepare(registry, mt.OCI_MANIFEST)

    response = await put(registry, "a" * 129, image.manifest)

    assert response.status_code == 400
    assert error_code(response) == "TAG_INVALID"
    assert "128" in message(response)


@pytest.mark.parametrize("digest", BAD_DIGESTS.values(), ids=BAD_DIGESTS.keys())
@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
async def test_malformed_digest_reference_is_400_digest_invalid(
    registry: Registry, digest: str, method: str
) -> None:
    image = await prepare(registry, mt.OCI_MANIFEST)
    await registry.push_image(NAME, "v1", image)

    response = await registry.client.request(
        method,
        f"/v2/{NAME}/manifests/{digest}",
        content=image.manifest if method == "PUT" else None,
        headers={"Content-Type": mt.OCI_MANIFEST},
    )

    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    assert len(await registry.rows("manifests")) == 1


async def test_unknown_tag_and_digest_are_404_manifest_unknown(registry: Registry) -> None:
    image = await prepare(registry, mt.OCI_MANIFEST)
    await registry.push_image(NAME, "v1", image)

    for reference in ("v2", UNKNOWN_DIGEST, "sha512:" + "0" * 128):
        for method in ("GET", "HEAD"):
            response = await registry.client.request(method, f"/v2/{NAME}/manifests/{reference}")
            assert response.status_code == 404, (method, reference)
        response = await registry.client.get(f"/v2/{NAME}/manifests/{reference}")
        assert error_code(response) == "MANIFEST_UNKNOWN"
        assert reference in message(response)


async def test_manifest_in_unknown_repository_is_404_name_unknown(registry: Registry) -> None:
    response = await registry.client.get("/v2/acme/nothing/manifests/v1")

    assert response.status_code == 404
    assert error_code(response) == "NAME_UNKNOWN"
    assert "acme/nothing" in message(response)


# Deleting


async def test_delete_tag_removes_just_the_tag(registry: Registry) -> None:
    image = await prepare(registry, mt.OCI_MANIFEST)
    await registry.push_image(NAME, "v1", image)
    await registry.push_image(NAME, "stable", image)

    response = await registry.client.delete(f"/v2/{NAME}/manifests/v1")

    assert response.status_code == 202
    gone = await registry.client.get(f"/v2/{NAME}/manifests/v1")
    assert gone.status_code == 404
    assert error_code(gone) == "MANIFEST_UNKNOWN"
    assert (await registry.client.get(f"/v2/{NAME}/manifests/stable")).status_code == 200
    by_digest = await registry.client.get(f"/v2/{NAME}/manifests/{image.digest}")
    assert by_digest.content == image.manifest
    assert (await registry.client.get(f"/v2/{NAME}/tags/list")).json()["tags"] == ["stable"]


async def test_delete_by_digest_removes_the_manifest_and_every_tag(registry: Registry) -> None:
    image = await prepare(registry, mt.OCI_MANIFEST)
    other = await prepare(registry, mt.OCI_MANIFEST)
    await registry.push_image(NAME, "v1", image)
    await registry.push_image(NAME, "stable", image)
    await registry.push_image(NAME, "other", other)

    response = await registry.client.delete(f"/v2/{NAME}/manifests/{image.digest}")

    assert response.status_code == 202
    for reference in ("v1", "stable", image.digest):
        gone = await registry.client.get(f"/v2/{NAME}/manifests/{reference}")
        assert gone.status_code == 404, reference
        assert error_code(gone) == "MANIFEST_UNKNOWN"
    assert (await registry.client.get(f"/v2/{NAME}/tags/list")).json()["tags"] == ["other"]
    assert [row["digest"] for row in await registry.rows("manifests")] == [other.digest]


async def test_delete_by_digest_keeps_the_blobs(registry: Registry) -> None:
    image = await prepare(registry, mt.OCI_MANIFEST)
    await registry.push_image(NAME, "v1", image)

    response = await registry.client.delete(f"/v2/{NAME}/manifests/{image.digest}")

    assert response.status_code == 202
    for reference in ("v1", image.digest):  # the manifest is gone...
        gone = await registry.client.get(f"/v2/{NAME}/manifests/{reference}")
        assert (gone.status_code, error_code(gone)) == (404, "MANIFEST_UNKNOWN"), reference
    assert await registry.rows("manifests") == []
    linked = {row["digest"] for row in await registry.rows("package_blobs")}
    for blob in image.blobs:  # ...its blobs stay, linked and stored, until GC says otherwise
        digest = digest_of(blob)
        got = await registry.client.get(f"/v2/{NAME}/blobs/{digest}")
        assert (got.status_code, got.content) == (200, blob)
        assert digest in linked
        assert registry.stored_files(blob_key(Digest.parse(digest)))


async def push_multi_arch(registry: Registry, *tags: str) -> tuple[Image, list[Image]]:
    children = [image_manifest([random_blob()]) for _ in range(2)]
    for child in children:
        await registry.push_image(NAME, child.digest, child)
    index = index_manifest(children)
    for tag in tags:
        await registry.push_image(NAME, tag, index)
    return index, children


async def test_deleting_a_platform_image_of_an_index_is_403_denied_naming_the_index_and_tags(
    registry: Registry,
) -> None:
    index, children = await push_multi_arch(registry, "v1", "latest")

    response = await registry.client.delete(f"/v2/{NAME}/manifests/{children[0].digest}")

    assert response.status_code == 403
    assert error_code(response) == "DENIED"
    text = message(response)
    assert index.digest in text and "latest, v1" in text and "delete that index" in text
    assert response.json()["errors"][0]["detail"] == {
        "digest": children[0].digest,
        "indexes": [{"digest": index.digest, "tags": ["latest", "v1"]}],
    }
    for reference in ("v1", children[0].digest):  # the multi-arch tag still pulls whole
        pulled = await registry.client.get(f"/v2/{NAME}/manifests/{reference}")
        assert pulled.status_code == 200, reference


async def test_a_platform_image_of_an_untagged_index_is_not_deleted_either(
    registry: Registry,
) -> None:
    index, children = await push_multi_arch(registry)
    await registry.push_image(NAME, index.digest, index)

    response = await registry.client.delete(f"/v2/{NAME}/manifests/{children[1].digest}")

    assert response.status_code == 403
    assert f"{index.digest} (tags: none)" in message(response)


async def test_deleting_the_index_leaves_its_platform_images_deletable(registry: Registry) -> None:
    index, children = await push_multi_arch(registry, "v1")

    assert (await registry.client.delete(f"/v2/{NAME}/manifests/{index.digest}")).status_code == 202
    response = await registry.client.delete(f"/v2/{NAME}/manifests/{children[0].digest}")

    assert response.status_code == 202


@pytest.mark.parametrize("reference", ["v9", UNKNOWN_DIGEST])
async def test_delete_unknown_manifest_is_404_manifest_unknown(
    registry: Registry, reference: str
) -> None:
    image = await prepare(registry, mt.OCI_MANIFEST)
    await registry.push_image(NAME, "v1", image)

    response = await registry.client.delete(f"/v2/{NAME}/manifests/{reference}")

    assert response.status_code == 404
    assert error_code(response) == "MANIFEST_UNKNOWN"
    assert len(await registry.rows("manifests")) == 1


async def test_delete_twice_is_404_the_second_time(registry: Registry) -> None:
    image = await prepare(registry, mt.OCI_MANIFEST)
    await registry.push_image(NAME, "v1", image)

    assert (await registry.client.delete(f"/v2/{NAME}/manifests/v1")).status_code == 202
    again = await registry.client.delete(f"/v2/{NAME}/manifests/v1")

    assert again.status_code == 404
    assert error_code(again) == "MANIFEST_UNKNOWN"


async def test_delete_manifest_in_unknown_repository_is_404_name_unknown(
    registry: Registry,
) -> None:
    response = await registry.client.delete("/v2/acme/nothing/manifests/v1")

    assert response.status_code == 404
    assert error_code(response) == "NAME_UNKNOWN"
