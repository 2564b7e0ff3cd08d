"""Docker engine: push, pull, and build FROM an image in the registry.

The base image is a busybox-static rootfs made here and `docker import`ed; the session's
private dockerd is started by the `docker` fixture (see conftest.py).
"""

from __future__ import annotations

import io
import json
import re
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ._support import (
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    Docker,
    Proc,
    Registry,
    check_manifest_response,
    describe_response,
    get_manifest,
    tool,
)

pytestmark = pytest.mark.interop

APPLETS = ("sh", "ls", "cat", "echo", "true")
PUSH_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: (\d+)")


@dataclass(frozen=True)
class Pushed:
    ref: str
    name: str
    tag: str
    digest: str


def _is_static_elf(path: Path) -> bool:
    """True for an ELF executable without a PT_INTERP program header (no dynamic loader)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit only, which is all Debian ships here
        return False
    endian = "<" if data[5] == 1 else ">"
    phoff = struct.unpack_from(endian + "Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from(endian + "HH", data, 0x36)
    pt_interp = 3
    return all(
        struct.unpack_from(endian + "I", data, phoff + i * phentsize)[0] != pt_interp
        for i in range(phnum)
    )


def busybox_rootfs() -> bytes:
    """A tar of a tiny root filesystem: a static busybox and a few applet symlinks."""
    busybox = Path(tool("busybox")).resolve()
    assert _is_static_elf(busybox), f"{busybox} is not static; install Debian's busybox-static"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for directory in ("bin", "etc", "tmp"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        info = tar.gettarinfo(str(busybox), arcname="bin/busybox")
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        with busybox.open("rb") as fh:
            tar.addfile(info, fh)
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            link.mode = 0o777
            tar.addfile(link)
        passwd = b"root:x:0:0:root:/:/bin/sh\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(passwd)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(passwd))
    return buf.getvalue()


def pushed_digest(proc: Proc) -> str:
    match = PUSH_DIGEST.search(proc.out)
    assert match, f"no digest in docker push output:\n{proc.describe()}"
    return match.group(1)


def file_from_image(docker: Docker, ref: str, path: str) -> bytes:
    """Read one file out of an image without running it (docker create + docker cp)."""
    container = docker("create", ref, "/bin/true").out.strip()
    try:
        archive = docker("cp", f"{container}:{path}", "-").stdout
    finally:
        docker("rm", "-f", container, check=False)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        member = tar.getmembers()[0]
        extracted = tar.extractfile(member)
        assert extracted is not None, f"{path} in {ref} is not a regular file"
        return extracted.read()


@pytest.fixture(scope="module")
def base_image(docker: Docker, registry: Registry) -> Pushed:
    name, tag = "acme/base", "v1"
    ref = registry.ref(name, tag)
    docker("import", "--change", 'CMD ["/bin/sh"]', "-", ref, input=busybox_rootfs())
    push = docker("push", ref, timeout=180)
    return Pushed(ref=ref, name=name, tag=tag, digest=pushed_digest(push))


def test_push_base_image(base_image: Pushed, http: httpx.Client) -> None:
    resp = get_manifest(http, base_image.name, base_image.tag)
    check_manifest_response(resp, base_image.digest)
    media_type = resp.headers["Content-Type"].split(";")[0]
    assert media_type in (DOCKER_MANIFEST, OCI_MANIFEST), describe_response(resp)

    manifest = json.loads(resp.content)
    for desc in [manifest["config"], *manifest["layers"]]:
        head = http.head(f"/v2/{base_image.name}/blobs/{desc['digest']}")
        assert head.status_code == 200, describe_response(head)
        assert head.headers.get("Content-Length") == str(desc["size"]), describe_response(head)

    tags = http.get(f"/v2/{base_image.name}/tags/list")
    assert tags.status_code == 200, describe_response(tags)
    assert base_image.tag in tags.json()["tags"], describe_response(tags)


def test_pull_after_rmi(docker: Docker, base_image: Pushed) -> None:
    docker("rmi", "-f", base_image.ref)
    gone = docker("image", "inspect", base_image.ref, check=False)
    assert gone.returncode != 0, f"image still present after rmi:\n{gone.describe()}"

    pull = docker("pull", base_image.ref, timeout=180)
    assert base_image.digest in pull.out, pull.describe()
    repo_digests = json.loads(
        docker("image", "inspect", "--format", "{{json .RepoDigests}}", base_image.ref).out
    )
    name = base_image.ref.rsplit(":", 1)[0]
    assert f"{name}@{base_image.digest}" in repo_digests, repo_digests
    assert file_from_image(docker, base_image.ref, "/etc/passwd").startswith(b"root:")

    by_digest = f"{name}@{base_image.digest}"
    docker("rmi", "-f", base_image.ref)
    docker("pull", by_digest, timeout=180)
    assert file_from_image(docker, by_digest, "/bin/busybox")[:4] == b"\x7fELF"


def test_build_from_registry_image(
    docker: Docker, registry: Registry, base_image: Pushed, http: httpx.Client, tmp_path: Path
) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "hello.txt").write_text("hello from cargohold interop\n")
    (context / "Dockerfile").write_text(
        f"FROM {base_image.ref}\n"
        "COPY hello.txt /srv/hello.txt\n"
        'LABEL org.example.interop="docker-build" org.opencontainers.image.title="app"\n'
    )
    # Make the build pull its base image from the registry.
    docker("rmi", "-f", base_image.ref, check=False)

    name, tag = "acme/app", "v1"
    ref = registry.ref(name, tag)
    docker("build", "--tag", ref, str(context), timeout=240)
    refetched = docker("image", "inspect", base_image.ref, check=False)
    assert refetched.returncode == 0, f"the build did not pull its base:\n{refetched.describe()}"
    digest = pushed_digest(docker("push", ref, timeout=180))

    docker("rmi", "-f", ref)
    pull = docker("pull", ref, timeout=180)
    assert digest in pull.out, pull.describe()
    labels = json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}", ref).out)
    assert labels.get("org.example.interop") == "docker-build", labels
    assert file_from_image(docker, ref, "/srv/hello.txt") == b"hello from cargohold interop\n"

    # The manifest is there over plain HTTP, and it shares the base image's layer.
    resp = get_manifest(http, name, tag)
    check_manifest_response(resp, digest)
    app_layers = [d["digest"] for d in json.loads(resp.content)["layers"]]
    base = get_manifest(http, base_image.name, base_image.tag)
    base_layers = [d["digest"] for d in json.loads(base.content)["layers"]]
    assert app_layers[: len(base_layers)] == base_layers
    assert len(app_layers) == len(base_layers) + 1
    for layer in app_layers:
        head = http.head(f"/v2/{name}/blobs/{layer}")
        assert head.status_code == 200, describe_response(head)
