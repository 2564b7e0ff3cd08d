"""buildah: build from scratch, commit, push; pull back with skopeo and podman."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from ._support import (
    OCI_MANIFEST,
    Registry,
    Skopeo,
    StorageTool,
    check_manifest_response,
    get_manifest,
    layout_blob,
    layout_ref,
    read_tar_member,
)

pytestmark = pytest.mark.interop

LABEL = "org.example.built-by"
CONTENT = b"built with buildah from scratch\n"


def test_build_commit_push_pull(
    storage_tool: Callable[[str], StorageTool],
    skopeo: Skopeo,
    registry: Registry,
    http: httpx.Client,
    tmp_path: Path,
) -> None:
    buildah = storage_tool("buildah")
    payload = tmp_path / "hello.txt"
    payload.write_bytes(CONTENT)

    container = buildah("from", "scratch").out.strip().splitlines()[-1]
    try:
        buildah("copy", container, str(payload), "/hello.txt")
        buildah("config", "--label", f"{LABEL}=buildah", "--cmd", "/hello.txt", container)
        buildah("commit", container, "localhost/acme/built:v1")
    finally:
        buildah("rm", container, check=False)

    name, tag = "acme/buildah", "v1"
    remote = registry.ref(name, tag)
    digestfile = tmp_path / "digest"
    buildah(
        "push", "--tls-verify=false", "--digestfile", str(digestfile),
        "localhost/acme/built:v1", f"docker://{remote}",
    )  # fmt: skip
    digest = digestfile.read_text().strip()

    resp = get_manifest(http, name, tag)
    check_manifest_response(resp, digest)
    assert resp.headers["Content-Type"].split(";")[0] == OCI_MANIFEST  # buildah's default

    # skopeo sees the label (this fetches manifest and config)...
    inspect = skopeo("inspect", "--tls-verify=false", f"docker://{remote}")
    info = json.loads(inspect.out)
    assert info["Digest"] == digest, inspect.describe()
    assert info["Labels"].get(LABEL) == "buildah", inspect.describe()

    # ...and a full copy has the file buildah copied in.
    dst = tmp_path / "pulled"
    skopeo("copy", "--src-tls-verify=false", f"docker://{remote}", f"oci:{dst}:v1")
    assert layout_ref(dst, "v1")["digest"] == digest
    manifest = json.loads(layout_blob(dst, digest))
    contents = [
        read_tar_member(layout_blob(dst, layer["digest"]), "hello.txt")
        for layer in manifest["layers"]
    ]
    assert CONTENT in contents, f"hello.txt not found in layers {manifest['layers']}"

    # podman, with a storage of its own, pulls it and sees the label as well.
    podman = storage_tool("podman")
    podman("pull", "--tls-verify=false", remote)
    labels = json.loads(podman("image", "inspect", "--format", "{{json .Labels}}", remote).out)
    assert labels.get(LABEL) == "buildah", labels
