"""skopeo: OCI layouts written by the test, copied to the registry and back."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from ._support import (
    OCI_INDEX,
    OCI_MANIFEST,
    OciLayout,
    Registry,
    Skopeo,
    check_manifest_response,
    describe_response,
    get_manifest,
    layout_blob,
    layout_ref,
    read_tar_member,
)

pytestmark = pytest.mark.interop


def _dest(registry: Registry, name: str, tag: str) -> str:
    return f"docker://{registry.ref(name, tag)}"


def test_copy_single_image_and_back(
    skopeo: Skopeo, registry: Registry, http: httpx.Client, tmp_path: Path
) -> None:
    src = OciLayout(tmp_path / "src")
    image = src.add_image(
        [
            {"etc/motd": b"cargohold interop\n", "etc/hostname": b"api\n"},
            {"srv/api/app.txt": b"layer two\n" * 100},
        ],
        labels={"org.example.name": "api"},
    )
    src.tag("v1", image.descriptor)
    digestfile = tmp_path / "pushed.digest"

    skopeo(
        "copy", "--dest-tls-verify=false", "--digestfile", str(digestfile),
        f"oci:{src.root}:v1", _dest(registry, "acme/api", "v1"),
    )  # fmt: skip
    assert digestfile.read_text().strip() == image.digest, (
        "skopeo changed the manifest while pushing an OCI layout"
    )

    # What the registry serves is exactly what was pushed.
    resp = get_manifest(http, "acme/api", "v1")
    check_manifest_response(resp, image.digest)
    assert resp.content == image.manifest
    assert resp.headers["Content-Type"].split(";")[0] == OCI_MANIFEST

    raw = skopeo("inspect", "--raw", "--tls-verify=false", _dest(registry, "acme/api", "v1"))
    assert raw.stdout == image.manifest, raw.describe()

    # ...and back into a fresh layout: same manifest, same config, same layers.
    dst = tmp_path / "dst"
    skopeo(
        "copy", "--src-tls-verify=false",
        _dest(registry, "acme/api", "v1"), f"oci:{dst}:v1",
    )  # fmt: skip
    desc = layout_ref(dst, "v1")
    assert desc["digest"] == image.digest, f"pulled {desc}, pushed {image.descriptor}"
    assert layout_blob(dst, image.digest) == image.manifest
    manifest = json.loads(image.manifest)
    assert layout_blob(dst, manifest["config"]["digest"]) == image.config
    for layer_desc, layer in zip(manifest["layers"], image.layers, strict=True):
        assert layout_blob(dst, layer_desc["digest"]) == layer
    assert read_tar_member(image.layers[0], "etc/motd") == b"cargohold interop\n"


def test_copy_multi_arch_index(
    skopeo: Skopeo, registry: Registry, http: httpx.Client, tmp_path: Path
) -> None:
    src = OciLayout(tmp_path / "src")
    amd64 = src.add_image([{"arch.txt": b"amd64\n"}], architecture="amd64")
    arm64 = src.add_image([{"arch.txt": b"arm64\n"}], architecture="arm64")
    index, index_desc = src.add_index([amd64, arm64])
    src.tag("v1", index_desc)

    skopeo(
        "copy", "--all", "--dest-tls-verify=false",
        f"oci:{src.root}:v1", _dest(registry, "acme/multi", "v1"),
    )  # fmt: skip

    resp = http.get("/v2/acme/multi/manifests/v1", headers={"Accept": OCI_INDEX})
    assert resp.status_code == 200, describe_response(resp)
    check_manifest_response(resp, index_desc["digest"])
    assert resp.headers["Content-Type"].split(";")[0] == OCI_INDEX, describe_response(resp)
    assert resp.content == index, "the registry re-serialised the index"
    children = {
        (m["platform"]["architecture"], m["digest"]) for m in json.loads(resp.content)["manifests"]
    }
    assert children == {("amd64", amd64.digest), ("arm64", arm64.digest)}

    for child in (amd64, arm64):
        child_resp = get_manifest(http, "acme/multi", child.digest)
        check_manifest_response(child_resp, child.digest)
        assert child_resp.content == child.manifest
        for layer_desc in json.loads(child.manifest)["layers"]:
            head = http.head(f"/v2/acme/multi/blobs/{layer_desc['digest']}")
            assert head.status_code == 200, describe_response(head)

    raw = skopeo("inspect", "--raw", "--tls-verify=false", _dest(registry, "acme/multi", "v1"))
    assert raw.stdout == index, "skopeo inspect --raw differs from the pushed index"

    # A platform-specific pull resolves through the index to the right child.
    dst = tmp_path / "arm64"
    skopeo(
        "--override-arch", "arm64", "--override-os", "linux",
        "copy", "--src-tls-verify=false", _dest(registry, "acme/multi", "v1"), f"oci:{dst}:v1",
    )  # fmt: skip
    assert layout_ref(dst, "v1")["digest"] == arm64.digest


def test_two_hundred_layers(
    skopeo: Skopeo, registry: Registry, http: httpx.Client, tmp_path: Path
) -> None:
    src = OciLayout(tmp_path / "src")
    layers = [{f"layers/{i:03d}.txt": f"layer {i}\n".encode()} for i in range(200)]
    image = src.add_image(layers)
    src.tag("v1", image.descriptor)

    skopeo(
        "copy", "--dest-tls-verify=false",
        f"oci:{src.root}:v1", _dest(registry, "acme/layers", "v1"),
        timeout=240,
    )  # fmt: skip

    resp = get_manifest(http, "acme/layers", "v1")
    check_manifest_response(resp, image.digest)
    assert len(json.loads(resp.content)["layers"]) == 200

    dst = tmp_path / "dst"
    skopeo(
        "copy", "--src-tls-verify=false",
        _dest(registry, "acme/layers", "v1"), f"oci:{dst}:v1",
        timeout=240,
    )  # fmt: skip
    assert layout_ref(dst, "v1")["digest"] == image.digest
    for layer_desc, layer in zip(json.loads(image.manifest)["layers"], image.layers, strict=True):
        assert layout_blob(dst, layer_desc["digest"]) == layer


def test_list_tags_and_delete(
    skopeo: Skopeo, registry: Registry, http: httpx.Client, tmp_path: Path
) -> None:
    src = OciLayout(tmp_path / "src")
    image = src.add_image([{"doomed.txt": b"to be deleted\n"}])
    src.tag("v1", image.descriptor)
    for tag in ("v1", "v2"):
        skopeo(
            "copy", "--dest-tls-verify=false",
            f"oci:{src.root}:v1", _dest(registry, "acme/doomed", tag),
        )  # fmt: skip

    listed = skopeo("list-tags", "--tls-verify=false", f"docker://{registry.host}/acme/doomed")
    assert sorted(json.loads(listed.out)["Tags"]) == ["v1", "v2"], listed.describe()

    # Deleting by digest removes the manifest and every tag that pointed at it.
    skopeo("delete", "--tls-verify=false", f"docker://{registry.host}/acme/doomed@{image.digest}")
    for reference in (image.digest, "v1", "v2"):
        gone = http.get(f"/v2/acme/doomed/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
        assert gone.status_code == 404, describe_response(gone)
    failed = skopeo(
        "inspect", "--raw", "--tls-verify=false", _dest(registry, "acme/doomed", "v1"), check=False
    )
    assert failed.returncode != 0, failed.describe()
