"""The referrers of a mirror's package (docs/mirror.md): the upstream's, with the ones held
here, as one index; the signatures and SBOMs a client looks up before it trusts an image."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cargohold.oci import mediatypes
from tests.functional.api.people import Api
from tests.functional.mirrors.conftest import Proxy, make_mirror, pull, push_upstream
from tests.functional.registry import Image, image_manifest, random_blob
from tests.remote_registries import Distribution, TokenCargohold, token_cargohold

SIGNATURE = "application/vnd.example.signature"
SBOM = "application/vnd.example.sbom"
IMAGE = "up/tools/app"
MIRRORED = f"/v2/acme/hub/{IMAGE}"


@pytest.fixture(scope="module")
def token_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenCargohold]:
    """A Cargohold upstream: it has the referrers API (distribution 2.8.2 has not). One for
    the module: each test pushes an image of its own, with referrers of its own."""
    with token_cargohold(tmp_path_factory.mktemp("upstream"), "up", [IMAGE]) as server:
        yield server


def referrer(subject: Image, artifact_type: str) -> Image:
    described = {
        "mediaType": subject.media_type,
        "digest": subject.digest,
        "size": len(subject.manifest),
    }
    return image_manifest(
        [random_blob(64)],
        config=b"{}",
        config_media_type="application/vnd.oci.empty.v1+json",
        subject=described,
        artifact_type=artifact_type,
    )


async def upstream_with_referrers(
    upstream: TokenCargohold,
) -> tuple[Image, Image, Image]:
    """An image upstream, signed and with an SBOM: (image, signature, sbom)."""
    image = image_manifest([random_blob(300)])
    await push_upstream(upstream, IMAGE, "1", image)
    signature, sbom = referrer(image, SIGNATURE), referrer(image, SBOM)
    await push_upstream(upstream, IMAGE, signature.digest, signature)
    await push_upstream(upstream, IMAGE, sbom.digest, sbom)
    return image, signature, sbom


def listed(answer_json: dict[str, object]) -> dict[str, str]:
    manifests = answer_json["manifests"]
    assert isinstance(manifests, list)
    return {item["digest"]: item.get("artifactType") for item in manifests}


async def test_the_upstreams_referrers_are_listed_before_the_image_is_pulled(
    api: Api, token_upstream: TokenCargohold
) -> None:
    image, signature, sbom = await upstream_with_referrers(token_upstream)
    await make_mirror(api, token_upstream.url, token_upstream)
    answer = await pull(api, f"{MIRRORED}/referrers/{image.digest}")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == mediatypes.OCI_INDEX
    assert listed(answer.json()) == {signature.digest: SIGNATURE, sbom.digest: SBOM}
    fetched = await pull(api, f"{MIRRORED}/manifests/{signature.digest}")
    assert fetched.status_code == 200 and fetched.content == signature.manifest


async def test_the_artifact_type_filter_applies_to_the_upstreams_referrers(
    api: Api, token_upstream: TokenCargohold
) -> None:
    image, signature, _ = await upstream_with_referrers(token_upstream)
    await make_mirror(api, token_upstream.url, token_upstream)
    answer = await pull(api, f"{MIRRORED}/referrers/{image.digest}?artifactType={SIGNATURE}")
    assert answer.status_code == 200, answer.text
    assert answer.headers["oci-filters-applied"] == "artifactType"
    assert listed(answer.json()) == {signature.digest: SIGNATURE}


async def test_referrers_held_here_and_upstream_page_together_in_digest_order(
    api: Api, token_upstream: TokenCargohold
) -> None:
    image, signature, sbom = await upstream_with_referrers(token_upstream)
    await make_mirror(api, token_upstream.url, token_upstream)
    fetched = await pull(api, f"{MIRRORED}/manifests/{signature.digest}")  # now held here too
    assert fetched.status_code == 200
    first = await pull(api, f"{MIRRORED}/referrers/{image.digest}?n=1")
    assert first.status_code == 200, first.text
    assert "link" in first.headers
    second = await pull(api, first.headers["link"].split(";")[0].strip("<>"))
    assert second.status_code == 200, second.text
    pages = [*listed(first.json()), *listed(second.json())]
    assert pages == sorted([signature.digest, sbom.digest])


async def test_an_upstream_without_the_referrers_api_lists_none(
    api: Api, upstream: Distribution, proxy: Proxy
) -> None:
    image = image_manifest([random_blob(100)])
    await push_upstream(upstream, "library/busybox", "1", image)
    await make_mirror(api, proxy.url, upstream)
    answer = await pull(api, f"/v2/acme/hub/busybox/referrers/{image.digest}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["manifests"] == []
    assert "warning" not in answer.headers
    assert proxy.count("GET", f"/v2/library/busybox/referrers/{image.digest}") == 1


async def test_an_upstream_that_is_down_lists_the_referrers_held_with_a_warning(
    api: Api, tmp_path: Path
) -> None:
    with token_cargohold(tmp_path / "upstream", "up", [IMAGE]) as upstream:
        image, signature, _ = await upstream_with_referrers(upstream)
        await make_mirror(api, upstream.url, upstream)
        assert (await pull(api, f"{MIRRORED}/manifests/{signature.digest}")).status_code == 200
    answer = await pull(api, f"{MIRRORED}/referrers/{image.digest}")
    assert answer.status_code == 200, answer.text
    assert listed(answer.json()) == {signature.digest: SIGNATURE}
    assert answer.headers["warning"].startswith("110 ")


async def test_referrers_of_a_package_that_is_no_mirrors_are_still_name_unknown(
    api: Api, token_upstream: TokenCargohold
) -> None:
    image, _, _ = await upstream_with_referrers(token_upstream)
    await make_mirror(api, token_upstream.url, token_upstream)
    answer = await pull(api, f"/v2/acme/nothere/app/referrers/{image.digest}")
    assert answer.status_code == 404
    assert answer.json()["errors"][0]["code"] == "NAME_UNKNOWN"
