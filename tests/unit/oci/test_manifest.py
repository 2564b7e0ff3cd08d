"""`parse_manifest`: validate a manifest against the media type it was sent with."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cargohold.oci import mediatypes as mt
from cargohold.oci.digest import Digest
from cargohold.oci.errors import ManifestInvalid
from cargohold.oci.manifest import Descriptor, Manifest, Platform, parse_manifest
from cargohold.oci.text import is_encodable

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


def desc(digest: str, media_type: str = LAYER_TYPE, size: int = 10, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


def image(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": desc(D1, CONFIG_TYPE),
        "layers": [desc(D2)],
    }
    document.update(changes)
    return {k: v for k, v in document.items() if v is not None}


def index(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [desc(D1, mt.OCI_MANIFEST), desc(D2, mt.OCI_MANIFEST)],
    }
    document.update(changes)
    return {k: v for k, v in document.items() if v is not None}


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


def test_image_manifest_lists_config_and_layers_as_blobs() -> None:
    manifest = parse_manifest(encode(image()), mt.OCI_MANIFEST)

    assert manifest.media_type == mt.OCI_MANIFEST
    assert [str(d.digest) for d in manifest.blobs] == [D1, D2]
    assert manifest.children == ()
    assert manifest.config_media_type == CONFIG_TYPE
    assert manifest.referrer_artifact_type == CONFIG_TYPE
    assert manifest.subject is None


def test_index_lists_children_and_no_blobs() -> None:
    manifest = parse_manifest(encode(index()), mt.OCI_INDEX)

    assert [str(d.digest) for d in manifest.children] == [D1, D2]
    assert manifest.blobs == ()
    assert manifest.referrer_artifact_type is None


def test_docker_manifest_list() -> None:
    document = index(mediaType=mt.DOCKER_MANIFEST_LIST, manifests=[desc(D1, mt.DOCKER_MANIFEST)])

    manifest = parse_manifest(encode(document), mt.DOCKER_MANIFEST_LIST)

    assert manifest.media_type == mt.DOCKER_MANIFEST_LIST
    assert len(manifest.children) == 1


def test_artifact_type_wins_over_config_media_type() -> None:
    manifest = parse_manifest(encode(image(artifactType="application/x-sig")), None)

    assert manifest.referrer_artifact_type == "application/x-sig"


def test_subject_and_annotations_are_read() -> None:
    document = image(subject=desc(D3, mt.OCI_MANIFEST), annotations={"a": "b"})

    manifest = parse_manifest(encode(document), mt.OCI_MANIFEST)

    assert manifest.subject is not None
    assert manifest.subject.digest == Digest.parse(D3)
    assert manifest.annotations == {"a": "b"}


@pytest.mark.parametrize(
    ("declared", "content_type", "expected"),
    [
        (mt.OCI_MANIFEST, mt.OCI_MANIFEST, mt.OCI_MANIFEST),
        (mt.OCI_MANIFEST, None, mt.OCI_MANIFEST),
        (mt.OCI_MANIFEST, f"{mt.OCI_MANIFEST}; charset=utf-8", mt.OCI_MANIFEST),
        (None, mt.OCI_MANIFEST, mt.OCI_MANIFEST),
        (None, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST),
        (mt.DOCKER_MANIFEST, "", mt.DOCKER_MANIFEST),
    ],
)
def test_media_type_comes_from_the_document_else_the_content_type(
    declared: str | None, content_type: str | None, expected: str
) -> None:
    manifest = parse_manifest(encode(image(mediaType=declared)), content_type)

    assert manifest.media_type == expected


INVALID: dict[str, tuple[bytes, str | None, str]] = {
    "not-json": (b"nope", mt.OCI_MANIFEST, "JSON"),
    "empty": (b"", mt.OCI_MANIFEST, "JSON"),
    "invalid-utf8": (b'{"a": "\xff"}', mt.OCI_MANIFEST, "JSON"),
    "array": (b"[]", mt.OCI_MANIFEST, "object"),
    "media-type-mismatch": (encode(image()), mt.DOCKER_MANIFEST, "does not match"),
    "no-media-type-at-all": (encode(image(mediaType=None)), None, "media type"),
    "json-content-type": (encode(image(mediaType=None)), "application/json", "media type"),
    "unknown-media-type": (encode(image(mediaType="application/x-foo")), None, "media type"),
    "media-type-not-string": (encode(image(mediaType=5)), None, "mediaType"),
    "schema-1": (encode(image(schemaVersion=1)), None, "schemaVersion"),
    "schema-float": (encode(image(schemaVersion=2.0)), None, "schemaVersion must be the integer"),
    "schema-bool": (encode(image(schemaVersion=True)), None, "schemaVersion must be the integer"),
    "duplicate-key": (
        encode(image()).replace(b'"schemaVersion": 2', b'"schemaVersion": 2, "schemaVersion": 2'),
        None,
        "'schemaVersion' appears twice",
    ),
    "duplicate-media-type": (
        encode(image()).replace(b'{"schemaVersion"', b'{"mediaType": "x", "schemaVersion"'),
        None,
        "'mediaType' appears twice",
    ),
    "duplicate-nested-key": (
        encode(image()).replace(b'"size": 10', b'"size": 10, "size": 0', 1),
        None,
        "'size' appears twice",
    ),
    "duplicate-annotation": (
        encode(image(annotations={"a": "1"})).replace(b'"a": "1"', b'"a": "1", "a": "2"'),
        None,
        "'a' appears twice",
    ),
    "nan": (encode(image(x=float("nan"))), None, "NaN is not a JSON number"),
    "infinity": (encode(image(x=float("-inf"))), None, "-Infinity is not a JSON number"),
    "no-config": (encode(image(config=None)), None, "config"),
    "docker-without-layers": (
        encode(image(mediaType=mt.DOCKER_MANIFEST, layers=None)),
        None,
        "layers",
    ),
    "index-without-manifests": (encode(index(manifests=None)), None, "manifests"),
    "layer-bad-digest": (encode(image(layers=[desc("sha256:xyz")])), None, "layers[0].digest"),
    "layer-negative-size": (encode(image(layers=[desc(D2, size=-1)])), None, "layers[0].size"),
    "layer-bool-size": (encode(image(layers=[desc(D2, size=True)])), None, "layers[0].size"),
    "layer-size-past-int64": (
        encode(image(layers=[desc(D2, size=2**63)])),
        None,
        "layers[0].size must be a non-negative integer of at most 9223372036854775807",
    ),
    "config-size-10-to-the-400": (
        encode(image(config=desc(D1, CONFIG_TYPE, size=10**400))),
        None,
        "config.size",
    ),
    "child-size-10-to-the-400": (
        encode(index(manifests=[desc(D1, mt.OCI_MANIFEST, size=10**400)])),
        None,
        "manifests[0].size",
    ),
    "layer-no-media-type": (
        encode(image(layers=[{"digest": D2, "size": 1}])),
        None,
        "layers[0].mediaType",
    ),
    "layer-urls-not-list": (encode(image(layers=[desc(D2, urls="x")])), None, "urls"),
    "annotations-not-strings": (encode(image(annotations={"a": 1})), None, "annotations"),
    "artifact-type-not-string": (encode(image(artifactType=1)), None, "artifactType"),
    "subject-not-object": (encode(image(subject="x")), None, "subject"),
    "encoded-surrogate": (b'{"a": "\xed\xa0\x80"}', mt.OCI_MANIFEST, "UTF-8"),
    "utf-16": (encode(image()).decode().encode("utf-16"), mt.OCI_MANIFEST, "UTF-8"),
    "deeply-nested-arrays": (
        b'{"schemaVersion": 2, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        mt.OCI_MANIFEST,
        "JSON",
    ),
}


@pytest.mark.parametrize(
    ("payload", "content_type", "reason"), INVALID.values(), ids=INVALID.keys()
)
def test_invalid_manifest_is_manifest_invalid_with_a_reason(
    payload: bytes, content_type: str | None, reason: str
) -> None:
    with pytest.raises(ManifestInvalid) as raised:
        parse_manifest(payload, content_type)

    assert raised.value.http_status == 400
    assert reason in raised.value.message


LONE = "\ud800"  # JSON can spell it as an escape; no UTF-8 text can hold it
LONE_SURROGATES = {
    "annotation-value": (image(annotations={"note": LONE}), "annotations.note"),
    "annotation-key": (image(annotations={LONE: "x"}), "a key of annotations"),
    "artifact-type": (image(artifactType=LONE), "artifactType"),
    "config-media-type": (image(config=desc(D1, LONE)), "config.mediaType"),
    "media-type": (image(mediaType=LONE), "mediaType"),
    "layer-url": (image(layers=[desc(D2, urls=["https://x/" + LONE])]), "layers[0].urls[0]"),
    "unknown-field": (image(x={"y": ["ok", "\udfff"]}), "x.y[1]"),
}


@pytest.mark.parametrize(
    ("document", "where"), LONE_SURROGATES.values(), ids=LONE_SURROGATES.keys()
)
def test_a_lone_surrogate_anywhere_is_refused_naming_where_it_is(
    document: dict[str, Any], where: str
) -> None:
    payload = encode(document)
    assert b"\\ud" in payload or b"\\udfff" in payload  # sent as a JSON escape

    with pytest.raises(ManifestInvalid) as raised:
        parse_manifest(payload, None)

    assert raised.value.message.startswith(f"{where} is not valid Unicode")
    assert is_encodable(raised.value.message)
    assert raised.value.detail is None


def test_a_surrogate_pair_is_one_character_and_is_accepted() -> None:
    payload = encode(image(annotations={"note": "\U0001f600"}))
    assert b"\\ud83d\\ude00" in payload

    manifest = parse_manifest(payload, None)

    assert manifest.annotations == {"note": "\U0001f600"}


@pytest.mark.parametrize(
    ("media_type", "urls", "foreign"),
    [
        (mt.DOCKER_FOREIGN_LAYER, ("https://x/l",), True),
        (mt.OCI_NONDISTRIBUTABLE_PREFIX + "v1.tar+gzip", ("https://x/l",), True),
        (mt.DOCKER_FOREIGN_LAYER, (), False),
        (LAYER_TYPE, ("https://x/l",), False),
    ],
)
def test_foreign_layers(media_type: str, urls: tuple[str, ...], foreign: bool) -> None:
    descriptor = Descriptor(media_type, Digest.parse(D1), 1, urls=urls)

    assert descriptor.is_foreign is foreign


def test_pushed_blobs_leave_out_foreign_layers_but_never_the_config() -> None:
    foreign = {"urls": ["https://example.com/blob"]}
    document = image(
        config=desc(D1, mt.OCI_NONDISTRIBUTABLE_PREFIX + "v1+json", **foreign),
        layers=[desc(D2), desc(D3, mt.DOCKER_FOREIGN_LAYER, **foreign)],
    )

    manifest = parse_manifest(encode(document), mt.OCI_MANIFEST)

    assert [str(d.digest) for d in manifest.pushed_blobs] == [D1, D2]


def test_image_keeps_its_config_apart_from_its_layers() -> None:
    manifest = parse_manifest(encode(image(layers=[desc(D2), desc(D3)])), mt.OCI_MANIFEST)

    assert manifest.config is not None
    assert str(manifest.config.digest) == D1
    assert manifest.config.media_type == CONFIG_TYPE
    assert [str(d.digest) for d in manifest.layers] == [D2, D3]


def test_blobs_are_the_config_then_the_layers() -> None:
    manifest = parse_manifest(encode(image(layers=[desc(D2), desc(D3)])), mt.OCI_MANIFEST)

    assert manifest.blobs == (manifest.config, *manifest.layers)


def test_index_has_no_config_and_no_layers() -> None:
    manifest = parse_manifest(encode(index()), mt.OCI_INDEX)

    assert manifest.config is None
    assert manifest.layers == ()
    assert manifest.config_media_type is None


def test_image_without_layers_has_an_empty_layer_list() -> None:
    manifest = parse_manifest(encode(image(layers=None)), mt.OCI_MANIFEST)

    assert manifest.layers == ()
    assert manifest.blobs == (manifest.config,)


@pytest.mark.parametrize(
    ("media_type", "is_index"),
    [
        (mt.OCI_INDEX, True),
        (mt.DOCKER_MANIFEST_LIST, True),
        (mt.OCI_MANIFEST, False),
        (mt.DOCKER_MANIFEST, False),
    ],
)
def test_indexes_are_the_index_and_manifest_list_media_types(
    media_type: str, is_index: bool
) -> None:
    assert Manifest(media_type).is_index is is_index


def test_blob_size_adds_the_config_and_layer_sizes() -> None:
    document = image(config=desc(D1, CONFIG_TYPE, size=7), layers=[desc(D2, size=100), desc(D3)])

    manifest = parse_manifest(encode(document), mt.OCI_MANIFEST)

    assert manifest.blob_size == 7 + 100 + 10


def test_index_blob_size_is_zero() -> None:
    assert parse_manifest(encode(index()), mt.OCI_INDEX).blob_size == 0


def test_a_size_of_int64_max_is_accepted() -> None:
    manifest = parse_manifest(encode(image(layers=[desc(D2, size=2**63 - 1)])), None)

    assert manifest.layers[0].size == 2**63 - 1


def test_child_descriptor_keeps_its_size() -> None:
    document = index(manifests=[desc(D1, mt.OCI_MANIFEST, size=1234)])

    manifest = parse_manifest(encode(document), mt.OCI_INDEX)

    assert manifest.children[0].size == 1234


def test_child_platform_is_read() -> None:
    platform = {"os": "linux", "architecture": "arm64", "variant": "v8"}
    document = index(manifests=[desc(D1, mt.OCI_MANIFEST, platform=platform)])

    manifest = parse_manifest(encode(document), mt.OCI_INDEX)

    assert manifest.children[0].platform == Platform("linux", "arm64", "v8")


def test_child_without_a_platform_has_none() -> None:
    manifest = parse_manifest(encode(index()), mt.OCI_INDEX)

    assert [child.platform for child in manifest.children] == [None, None]


def test_platforms_are_those_of_the_children_that_name_one_in_order() -> None:
    children = [
        desc(D1, mt.OCI_MANIFEST, platform={"os": "linux", "architecture": "amd64"}),
        desc(D2, mt.OCI_MANIFEST),
        desc(D3, mt.OCI_MANIFEST, platform={"os": "linux", "architecture": "arm64"}),
    ]

    manifest = parse_manifest(encode(index(manifests=children)), mt.OCI_INDEX)

    assert manifest.platforms == (Platform("linux", "amd64"), Platform("linux", "arm64"))


def test_an_image_has_no_platforms() -> None:
    assert parse_manifest(encode(image()), mt.OCI_MANIFEST).platforms == ()


@pytest.mark.parametrize(
    ("platform", "label"),
    [
        (Platform("linux", "amd64"), "linux/amd64"),
        (Platform("linux", "arm", "v7"), "linux/arm/v7"),
        (Platform("", "arm64"), "arm64"),
        (Platform(), ""),
    ],
)
def test_platform_reads_as_os_architecture_variant_without_empty_parts(
    platform: Platform, label: str
) -> None:
    assert str(platform) == label


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({}, Platform()),
        (
            {"os": "windows", "architecture": "amd64", "os.version": "10.0"},
            Platform("windows", "amd64"),
        ),
        ({"os": "linux", "architecture": "arm", "variant": ""}, Platform("linux", "arm")),
        ({"os": 1, "architecture": None, "variant": 7}, Platform("1", "None", "7")),
    ],
)
def test_an_odd_platform_object_is_read_as_text_not_refused(
    value: dict[str, Any], expected: Platform
) -> None:
    document = index(manifests=[desc(D1, mt.OCI_MANIFEST, platform=value)])

    manifest = parse_manifest(encode(document), mt.OCI_INDEX)

    assert manifest.children[0].platform == expected


def test_artifact_type_is_read() -> None:
    manifest = parse_manifest(encode(index(artifactType="application/x-bundle")), mt.OCI_INDEX)

    assert manifest.artifact_type == "application/x-bundle"


def test_layer_annotations_are_read() -> None:
    document = image(layers=[desc(D2, annotations={"org.opencontainers.image.title": "a.txt"})])

    manifest = parse_manifest(encode(document), mt.OCI_MANIFEST)

    assert manifest.layers[0].annotations == {"org.opencontainers.image.title": "a.txt"}
