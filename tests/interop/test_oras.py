"""oras (Python SDK): push and pull an artifact; referrers to an image via `subject`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import oras.client
import oras.oci
import pytest

from ._support import (
    OCI_INDEX,
    OCI_MANIFEST,
    Registry,
    describe_response,
    get_manifest,
    push_small_image,
    sha256_digest,
)

pytestmark = pytest.mark.interop

SBOM_TYPE = "application/vnd.example.sbom.v1+json"
SIGNATURE_TYPE = "application/vnd.example.signature.v1+json"
FILE_TYPE = "application/vnd.example.file.v1"


@pytest.fixture
def client(registry: Registry) -> oras.client.OrasClient:
    return oras.client.OrasClient(hostname=registry.host, insecure=True)


def _response_info(resp: Any) -> str:
    """Request and response of a `requests` response, for assertion messages."""
    req = resp.request
    return (
        f"{req.method} {req.url}\n{dict(req.headers)}\n"
        f"-> {resp.status_code}\n{dict(resp.headers)}\n  body: {resp.text[:2000]!r}"
    )


@pytest.mark.parametrize("chunked", [False, True], ids=["monolithic", "chunked"])
def test_push_and_pull_artifact(
    chunked: bool,
    client: oras.client.OrasClient,
    registry: Registry,
    http: httpx.Client,
    tmp_path: Path,
) -> None:
    payload = os.urandom(64 * 1024) + f"cargohold artifact, chunked={chunked}\n".encode()
    artifact = tmp_path / "push" / "artifact.bin"
    artifact.parent.mkdir()
    artifact.write_bytes(payload)
    tag = "chunked" if chunked else "v1"
    target = registry.ref("acme/artifact", tag)

    resp = client.push(
        target=target,
        files=[f"{artifact}:{FILE_TYPE}"],
        disable_path_validation=True,
        do_chunked=chunked,
        chunk_size=16 * 1024,  # five PATCHes with Content-Range when chunked
    )
    assert resp.status_code == 201, _response_info(resp)

    manifest_resp = get_manifest(http, "acme/artifact", tag)
    manifest = json.loads(manifest_resp.content)
    assert manifest_resp.headers["Content-Type"].split(";")[0] == OCI_MANIFEST
    [layer] = manifest["layers"]
    assert layer["mediaType"] == FILE_TYPE
    assert layer["digest"] == sha256_digest(payload)
    assert layer["annotations"]["org.opencontainers.image.title"] == "artifact.bin"

    outdir = tmp_path / "pull"
    files = client.pull(target=target, outdir=str(outdir))
    assert [Path(f).name for f in files] == ["artifact.bin"], files
    assert (outdir / "artifact.bin").read_bytes() == payload


def _push_referrer(
    client: oras.client.OrasClient,
    target: str,
    subject: oras.oci.Subject,
    artifact_type: str,
    workdir: Path,
    kind: str,
) -> Any:
    """Push an artifact whose config media type is `artifact_type`, with `subject` set."""
    workdir.mkdir()
    body = workdir / f"{kind}.json"
    body.write_text(json.dumps({"kind": kind, "subject": subject.digest}))
    config = workdir / "config.json"
    config.write_text(json.dumps({"kind": kind}))
    resp = client.push(
        target=target,
        files=[f"{body}:application/json"],
        manifest_config=f"{config}:{artifact_type}",
        manifest_annotations={"org.example.kind": kind},
        subject=subject,
        disable_path_validation=True,
    )
    assert resp.status_code == 201, _response_info(resp)
    return resp


@dataclass(frozen=True)
class Referred:
    name: str
    subject_digest: str
    sbom_digest: str
    sig_digest: str
    put_responses: dict[str, Any]


@pytest.fixture(scope="module")
def referred(
    registry: Registry, http: httpx.Client, tmp_path_factory: pytest.TempPathFactory
) -> Referred:
    """An image with two referrers pushed by oras: an SBOM and a signature."""
    client = oras.client.OrasClient(hostname=registry.host, insecure=True)
    workdir = tmp_path_factory.mktemp("oras-referrers")
    name = "acme/signed"
    subject_manifest, subject_digest = push_small_image(
        http, name, "v1", {"app/main.txt": b"the image that gets an SBOM and a signature\n"}
    )
    subject = oras.oci.Subject(
        mediaType=OCI_MANIFEST, digest=subject_digest, size=len(subject_manifest)
    )
    responses = {
        "sbom": _push_referrer(
            client, registry.ref(name, "sbom"), subject, SBOM_TYPE, workdir / "sbom", "sbom"
        ),
        "sig": _push_referrer(
            client, registry.ref(name, "sig"), subject, SIGNATURE_TYPE, workdir / "sig", "sig"
        ),
    }
    # The referrer manifests are stored as pushed, with their subject.
    digests = {}
    for tag, resp in responses.items():
        stored = get_manifest(http, name, tag)
        digests[tag] = sha256_digest(stored.content)
        assert resp.headers.get("Docker-Content-Digest") == digests[tag], _response_info(resp)
        assert json.loads(stored.content)["subject"]["digest"] == subject_digest
    return Referred(name, subject_digest, digests["sbom"], digests["sig"], responses)


def test_manifest_put_with_subject_answers_oci_subject(referred: Referred) -> None:
    for resp in referred.put_responses.values():
        assert resp.headers.get("OCI-Subject") == referred.subject_digest, _response_info(resp)


def test_referrers_lists_both_with_artifact_type(referred: Referred, http: httpx.Client) -> None:
    listing = http.get(f"/v2/{referred.name}/referrers/{referred.subject_digest}")
    assert listing.status_code == 200, describe_response(listing)
    assert listing.headers["Content-Type"].split(";")[0] == OCI_INDEX, describe_response(listing)
    index = listing.json()
    assert index["schemaVersion"] == 2 and index["mediaType"] == OCI_INDEX, index
    by_digest = {d["digest"]: d for d in index["manifests"]}
    assert set(by_digest) == {referred.sbom_digest, referred.sig_digest}, describe_response(listing)
    sbom = by_digest[referred.sbom_digest]
    assert sbom["artifactType"] == SBOM_TYPE, sbom
    assert sbom["mediaType"] == OCI_MANIFEST, sbom
    stored = get_manifest(http, referred.name, referred.sbom_digest)
    assert sbom["size"] == len(stored.content), sbom
    assert sbom.get("annotations", {}).get("org.example.kind") == "sbom", sbom
    assert by_digest[referred.sig_digest]["artifactType"] == SIGNATURE_TYPE


def test_referrers_filter_by_artifact_type(referred: Referred, http: httpx.Client) -> None:
    url = f"/v2/{referred.name}/referrers/{referred.subject_digest}"
    filtered = http.get(url, params={"artifactType": SBOM_TYPE})
    assert filtered.status_code == 200, describe_response(filtered)
    assert filtered.headers.get("OCI-Filters-Applied") == "artifactType", describe_response(
        filtered
    )
    assert [d["digest"] for d in filtered.json()["manifests"]] == [referred.sbom_digest]

    none = http.get(url, params={"artifactType": "application/vnd.example.nothing"})
    assert none.status_code == 200, describe_response(none)
    assert none.json()["manifests"] == [], describe_response(none)


def test_referrers_of_unreferenced_digest_is_empty(referred: Referred, http: httpx.Client) -> None:
    # Nobody refers to the SBOM: an empty index, not a 404.
    empty = http.get(f"/v2/{referred.name}/referrers/{referred.sbom_digest}")
    assert empty.status_code == 200, describe_response(empty)
    assert empty.headers["Content-Type"].split(";")[0] == OCI_INDEX, describe_response(empty)
    assert empty.json()["manifests"] == [], describe_response(empty)
