"""GET /v2/<name>/referrers/<digest> (end-12a, end-12b)."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from cargohold.oci import mediatypes as mt
from tests.functional.registry import (
    BAD_DIGESTS,
    UNKNOWN_DIGEST,
    Image,
    Registry,
    descriptor,
    error_code,
    image_manifest,
    index_manifest,
    random_blob,
)

NAME = "acme/web"
SIGNATURE = "application/vnd.example.signature.v1"
SBOM = "application/vnd.example.sbom.v1"
LINK = re.compile(r'<(?P<url>[^>]+)>;\s*rel="next"')


async def push_subject(registry: Registry, name: str = NAME) -> Image:
    subject = image_manifest([random_blob()])
    await registry.push_image(name, "v1", subject)
    return subject


def referrer(
    subject: Image,
    *,
    artifact_type: str | None = None,
    config_media_type: str | None = None,
    annotations: dict[str, str] | None = None,
) -> Image:
    return image_manifest(
        [random_blob(64)],
        config=b"{}",
        config_media_type=config_media_type or mt.OCI_EMPTY,
        subject=descriptor(subject.media_type, subject.manifest),
        artifact_type=artifact_type,
        annotations=annotations,
    )


async def push_referrer(registry: Registry, image: Image, name: str = NAME) -> None:
    response = await registry.put_manifest(name, image.digest, image)
    assert response.status_code == 201, response.text


async def referrers(
    registry: Registry, digest: str, name: str = NAME, **params: str | int
) -> httpx.Response:
    return await registry.client.get(f"/v2/{name}/referrers/{digest}", params=params)


def listed(response: httpx.Response) -> list[dict[str, object]]:
    body = response.json()
    assert body["schemaVersion"] == 2
    assert body["mediaType"] == mt.OCI_INDEX
    manifests: list[dict[str, object]] = body["manifests"]
    return manifests


async def test_referrers_is_an_index_of_every_manifest_with_that_subject(
    registry: Registry,
) -> None:
    subject = await push_subject(registry)
    signature = referrer(
        subject, artifact_type=SIGNATURE, annotations={"org.example.signer": "alice"}
    )
    sbom = referrer(subject, artifact_type=SBOM)
    await push_referrer(registry, signature)
    await push_referrer(registry, sbom)
    await registry.push_image(NAME, "unrelated", image_manifest([random_blob()]))

    response = await referrers(registry, subject.digest)

    assert response.status_code == 200
    assert response.headers["content-type"] == mt.OCI_INDEX
    assert "oci-filters-applied" not in response.headers
    by_digest = {d["digest"]: d for d in listed(response)}
    assert by_digest == {
        signature.digest: {
            "mediaType": mt.OCI_MANIFEST,
            "digest": signature.digest,
            "size": len(signature.manifest),
            "artifactType": SIGNATURE,
            "annotations": {"org.example.signer": "alice"},
        },
        sbom.digest: {
            "mediaType": mt.OCI_MANIFEST,
            "digest": sbom.digest,
            "size": len(sbom.manifest),
            "artifactType": SBOM,
        },
    }


async def test_artifact_type_falls_back_to_the_config_media_type(registry: Registry) -> None:
    subject = await push_subject(registry)
    image = referrer(subject, config_media_type="application/vnd.example.config.v1+json")
    await push_referrer(registry, image)

    response = await referrers(registry, subject.digest)

    (entry,) = listed(response)
    assert entry["artifactType"] == "application/vnd.example.config.v1+json"


async def test_index_referrer_without_artifact_type_has_none(registry: Registry) -> None:
    subject = await push_subject(registry)
    child = image_manifest([random_blob()])
    await registry.push_image(NAME, child.digest, child)
    document = json.loads(index_manifest([child]).manifest)
    document["subject"] = descriptor(subject.media_type, subject.manifest)
    document["annotations"] = {"note": "an index"}
    index = Image(json.dumps(document).encode(), mt.OCI_INDEX, [])
    await push_referrer(registry, index)

    response = await referrers(registry, subject.digest)

    assert listed(response) == [
        {
            "mediaType": mt.OCI_INDEX,
            "digest": index.digest,
            "size": len(index.manifest),
            "annotations": {"note": "an index"},
        }
    ]


async def test_filter_by_artifact_type_sets_oci_filters_applied(registry: Registry) -> None:
    subject = await push_subject(registry)
    signature = referrer(subject, artifact_type=SIGNATURE)
    await push_referrer(registry, signature)
    await push_referrer(registry, referrer(subject, artifact_type=SBOM))

    response = await referrers(registry, subject.digest, artifactType=SIGNATURE)

    assert response.status_code == 200
    assert response.headers["oci-filters-applied"] == "artifactType"
    assert [d["digest"] for d in listed(response)] == [signature.digest]


async def test_filter_matching_nothing_is_an_empty_index(registry: Registry) -> None:
    subject = await push_subject(registry)
    await push_referrer(registry, referrer(subject, artifact_type=SBOM))

    response = await referrers(registry, subject.digest, artifactType="application/none")

    assert response.status_code == 200
    assert response.headers["oci-filters-applied"] == "artifactType"
    assert listed(response) == []


async def test_digest_nobody_refers_to_is_200_with_an_empty_index(registry: Registry) -> None:
    subject = await push_subject(registry)

    for digest in (subject.digest, UNKNOWN_DIGEST, "sha512:" + "0" * 128):
        response = await referrers(registry, digest)
        assert response.status_code == 200
        assert response.headers["content-type"] == mt.OCI_INDEX
        assert listed(response) == []


async def test_referrer_of_a_subject_not_pushed_yet_is_listed(registry: Registry) -> None:
    await registry.push_blob(NAME, random_blob())
    subject = image_manifest([random_blob()])  # never pushed
    image = referrer(subject, artifact_type=SIGNATURE)
    await push_referrer(registry, image)

    response = await referrers(registry, subject.digest)

    assert [d["digest"] for d in listed(response)] == [image.digest]


async def test_referrers_come_from_the_same_repository_only(registry: Registry) -> None:
    subject = await push_subject(registry, "acme/a")
    await push_subject(registry, "acme/b")
    await push_referrer(registry, referrer(subject, artifact_type=SBOM), "acme/a")

    response = await referrers(registry, subject.digest, "acme/b")

    assert response.status_code == 200
    assert listed(response) == []


async def test_deleted_referrer_leaves_the_list(registry: Registry) -> None:
    subject = await push_subject(registry)
    image = referrer(subject, artifact_type=SBOM)
    await push_referrer(registry, image)

    deleted = await registry.client.delete(f"/v2/{NAME}/manifests/{image.digest}")

    assert deleted.status_code == 202
    assert listed(await referrers(registry, subject.digest)) == []


async def test_an_annotation_stored_with_a_lone_surrogate_is_listed_with_a_replacement(
    registry: Registry,
) -> None:
    subject = await push_subject(registry)
    image = referrer(subject, annotations={"note": "ok"})
    await push_referrer(registry, image)
    # As stored before the parser refused lone surrogates (JSON escapes them).
    await registry.context.db.execute(
        "UPDATE manifests SET annotations = :a WHERE digest = :d",
        {"a": '{"note": "\\ud800"}', "d": image.digest},
    )

    response = await referrers(registry, subject.digest)

    assert response.status_code == 200
    assert listed(response)[0]["annotations"] == {"note": "\ufffd"}


@pytest.mark.parametrize("digest", BAD_DIGESTS.values(), ids=BAD_DIGESTS.keys())
async def test_malformed_digest_is_400_digest_invalid(registry: Registry, digest: str) -> None:
    await push_subject(registry)

    response = await referrers(registry, digest)

    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"


async def test_unknown_repository_is_404_name_unknown(registry: Registry) -> None:
    response = await referrers(registry, UNKNOWN_DIGEST, "acme/nothing")

    assert response.status_code == 404
    assert error_code(response) == "NAME_UNKNOWN"


@pytest.mark.settings(page_size_max=2)
@pytest.mark.parametrize("artifact_type", [None, SBOM])
async def test_many_referrers_are_paginated_with_link(
    registry: Registry, artifact_type: str | None
) -> None:
    subject = await push_subject(registry)
    sboms = [referrer(subject, artifact_type=SBOM) for _ in range(5)]
    signature = referrer(subject, artifact_type=SIGNATURE)
    for image in [*sboms, signature]:
        await push_referrer(registry, image)
    wanted = sboms if artifact_type else [*sboms, signature]
    params = {"artifactType": artifact_type} if artifact_type else {}

    response = await referrers(registry, subject.digest, **params)
    seen: list[object] = []
    while True:
        assert response.status_code == 200
        page = listed(response)
        assert 0 < len(page) <= 2
        seen += [d["digest"] for d in page]
        if artifact_type:
            assert {d["artifactType"] for d in page} == {SBOM}
            assert response.headers["oci-filters-applied"] == "artifactType"
        link = response.headers.get("link")
        if link is None:
            break
        match = LINK.fullmatch(link)
        assert match is not None, link
        response = await registry.client.get(match["url"])

    assert sorted(seen) == sorted(image.digest for image in wanted)
    assert len(seen) == len(set(seen))
