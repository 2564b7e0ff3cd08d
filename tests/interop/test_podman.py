"""podman: push and pull, in the format podman picks and as Docker schema 2 (v2s2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from ._support import (
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    Registry,
    StorageTool,
    check_manifest_response,
    describe_response,
    get_manifest,
    make_tar,
)

pytestmark = pytest.mark.interop

LABEL = "org.example.interop"


@pytest.mark.parametrize("fmt", [None, "v2s2"], ids=["default-format", "v2s2"])
def test_push_pull(
    fmt: str | None,
    storage_tool: Callable[[str], StorageTool],
    registry: Registry,
    http: httpx.Client,
    tmp_path: Path,
) -> None:
    variant = fmt or "default"
    pusher = storage_tool("podman")
    puller = storage_tool("podman")  # separate storage: the pull must fetch every blob

    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(
        make_tar({"etc/motd": b"podman interop\n", "srv/data.txt": b"x" * 4096 + variant.encode()})
    )
    local = "localhost/acme/podsrc:v1"
    pusher("import", "--change", f"LABEL {LABEL}=podman-{variant}", str(rootfs), local)

    name, tag = "acme/podman", variant
    remote = registry.ref(name, tag)
    digestfile = tmp_path / "digest"
    push_args = ["push", "--tls-verify=false", "--digestfile", str(digestfile)]
    if fmt:
        push_args += ["--format", fmt]
    pusher(*push_args, local, f"docker://{remote}")
    digest = digestfile.read_text().strip()

    resp = get_manifest(http, name, tag)
    check_manifest_response(resp, digest)
    content_type = resp.headers["Content-Type"].split(";")[0].strip()
    manifest = json.loads(resp.content)
    if fmt == "v2s2":
        assert content_type == DOCKER_MANIFEST, describe_response(resp)
        assert manifest["config"]["mediaType"] == DOCKER_CONFIG, manifest
    else:
        assert content_type in (OCI_MANIFEST, DOCKER_MANIFEST), describe_response(resp)
    head = http.head(f"/v2/{name}/manifests/{tag}", headers={"Accept": content_type})
    assert head.status_code == 200, describe_response(head)
    assert head.headers.get("Content-Type", "").split(";")[0] == content_type
    assert head.headers.get("Docker-Content-Digest") == digest, describe_response(head)

    puller("pull", "--tls-verify=false", remote)
    inspected = json.loads(puller("image", "inspect", remote).out)[0]
    assert inspected["Digest"] == digest, inspected
    assert inspected["Labels"].get(LABEL) == f"podman-{variant}", inspected["Labels"]
    assert f"{registry.host}/{name}@{digest}" in inspected["RepoDigests"], inspected

    # Pull by digest too.
    puller("rmi", "--force", remote)
    puller("pull", "--tls-verify=false", f"{registry.host}/{name}@{digest}")
