"""Helpers shared by the interop tests: subprocesses, OCI layouts, plain-HTTP pushes.

Nothing here talks to anything but the registry under test on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from tests.functional.auth.world import World

# --------------------------------------------------------------------------- media types

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

ACCEPT_MANIFESTS = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST])

# Fixed timestamp so that generated layers and configs are reproducible.
EPOCH = "2024-01-01T00:00:00Z"

# --------------------------------------------------------------------------- subprocesses

OUTPUT_LIMIT = 6000


def _tail(data: bytes, limit: int = OUTPUT_LIMIT) -> str:
    text = data.decode("utf-8", errors="replace")
    if len(text) > limit:
        return "[...]" + text[-limit:]
    return text


@dataclass(frozen=True)
class Proc:
    """The outcome of one client invocation."""

    cmd: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", errors="replace")

    def describe(self) -> str:
        return (
            f"$ {shlex.join(self.cmd)}\n"
            f"exit status {self.returncode}\n"
            f"--- stdout ---\n{_tail(self.stdout)}\n"
            f"--- stderr ---\n{_tail(self.stderr)}"
        )


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    cwd: str | os.PathLike[str] | None = None,
    check: bool = True,
) -> Proc:
    """Run a client with a hard timeout; on failure raise with its stdout and stderr."""
    argv = tuple(os.fspath(part) for part in cmd)
    try:
        completed = subprocess.run(
            argv,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        partial = Proc(argv, -1, exc.stdout or b"", exc.stderr or b"")
        raise AssertionError(f"timed out after {timeout} s:\n{partial.describe()}") from None
    proc = Proc(argv, completed.returncode, completed.stdout, completed.stderr)
    if check and proc.returncode != 0:
        raise AssertionError(f"command failed:\n{proc.describe()}")
    return proc


def tool(name: str) -> str:
    """Absolute path of a required client; a missing client is a failure, never a skip."""
    path = shutil.which(name)
    assert path is not None, f"{name!r} is not on PATH; the interop suite needs it installed"
    return path


# --------------------------------------------------------------------------- blobs, tars


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def make_tar(files: Mapping[str, bytes], *, mode: int = 0o644) -> bytes:
    """A deterministic tar of regular files (parent directories are added)."""
    buf = io.BytesIO()
    seen_dirs: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            parts = name.strip("/").split("/")
            for depth in range(1, len(parts)):
                directory = "/".join(parts[:depth])
                if directory not in seen_dirs:
                    seen_dirs.add(directory)
                    info = tarfile.TarInfo(directory)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    tar.addfile(info)
            data = files[name]
            info = tarfile.TarInfo("/".join(parts))
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def read_tar_member(layer_blob: bytes, name: str) -> bytes | None:
    """The content of `name` in a (possibly gzipped) layer tar, or None."""
    raw = gzip.decompress(layer_blob) if layer_blob[:2] == b"\x1f\x8b" else layer_blob
    wanted = name.strip("/")
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        for member in tar.getmembers():
            if member.name.lstrip("./").strip("/") == wanted and member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                return extracted.read()
    return None


# --------------------------------------------------------------------------- OCI layouts


@dataclass
class Image:
    """An image written into an OCI layout."""

    manifest: bytes
    descriptor: dict[str, Any]
    config: bytes
    layers: list[bytes]

    @property
    def digest(self) -> str:
        return str(self.descriptor["digest"])


@dataclass
class OciLayout:
    """Writes an OCI image layout (oci-layout, index.json, blobs/sha256/...) by hand."""

    root: Path
    refs: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (self.root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        self._write_index()

    def add_blob(self, data: bytes, media_type: str) -> dict[str, Any]:
        digest = sha256_digest(data)
        (self.root / "blobs" / "sha256" / digest.split(":", 1)[1]).write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def blob(self, digest: str) -> bytes:
        return (self.root / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()

    def add_image(
        self,
        layers: Sequence[Mapping[str, bytes]],
        *,
        architecture: str = "amd64",
        os_name: str = "linux",
        labels: Mapping[str, str] | None = None,
    ) -> Image:
        """One image: each element of `layers` is the file set of one gzip tar layer."""
        layer_descs: list[dict[str, Any]] = []
        layer_blobs: list[bytes] = []
        diff_ids: list[str] = []
        for files in layers:
            tar = make_tar(files)
            blob = gzip_bytes(tar)
            diff_ids.append(sha256_digest(tar))
            layer_blobs.append(blob)
            layer_descs.append(self.add_blob(blob, OCI_LAYER_GZIP))
        config_obj: dict[str, Any] = {
            "created": EPOCH,
            "architecture": architecture,
            "os": os_name,
            "config": {"Labels": dict(labels or {}), "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created": EPOCH, "created_by": "cargohold interop"} for _ in diff_ids],
        }
        config = canonical_json(config_obj)
        manifest_obj = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self.add_blob(config, OCI_CONFIG),
            "layers": layer_descs,
        }
        manifest = json.dumps(manifest_obj, indent=2).encode()
        descriptor = self.add_blob(manifest, OCI_MANIFEST)
        descriptor["platform"] = {"architecture": architecture, "os": os_name}
        return Image(manifest, descriptor, config, layer_blobs)

    def add_index(self, children: Sequence[Image]) -> tuple[bytes, dict[str, Any]]:
        index_obj = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [child.descriptor for child in children],
        }
        index = json.dumps(index_obj, indent=2).encode()
        return index, self.add_blob(index, OCI_INDEX)

    def tag(self, ref: str, descriptor: Mapping[str, Any]) -> None:
        entry = dict(descriptor)
        entry["annotations"] = {"org.opencontainers.image.ref.name": ref}
        self.refs.append(entry)
        self._write_index()

    def _write_index(self) -> None:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.refs}
        (self.root / "index.json").write_text(json.dumps(index, indent=2))


def layout_ref(root: Path, ref: str) -> dict[str, Any]:
    """The descriptor tagged `ref` in the index.json of a layout (e.g. one skopeo wrote)."""
    index = json.loads((root / "index.json").read_text())
    found = [
        desc
        for desc in index.get("manifests", [])
        if (desc.get("annotations") or {}).get("org.opencontainers.image.ref.name") == ref
    ]
    assert len(found) == 1, f"ref {ref!r} not exactly once in {root / 'index.json'}: {index}"
    return dict(found[0])


def layout_blob(root: Path, digest: str) -> bytes:
    algorithm, encoded = digest.split(":", 1)
    path = root / "blobs" / algorithm / encoded
    assert path.is_file(), f"blob {digest} missing from layout {root}"
    return path.read_bytes()


# --------------------------------------------------------------------------- plain HTTP


def describe_response(resp: httpx.Response, body_limit: int = 2000) -> str:
    req = resp.request
    req_headers = "\n".join(f"  {k}: {v}" for k, v in req.headers.items())
    resp_headers = "\n".join(f"  {k}: {v}" for k, v in resp.headers.items())
    body = resp.content[:body_limit].decode("utf-8", errors="replace")
    return (
        f"{req.method} {req.url}\n{req_headers}\n"
        f"-> {resp.status_code} {resp.reason_phrase}\n{resp_headers}\n  body: {body!r}"
    )


def _with_query(location: str, **params: str) -> str:
    sep = "&" if "?" in location else "?"
    return location + sep + str(httpx.QueryParams(params))


def push_blob(client: httpx.Client, name: str, data: bytes) -> str:
    """Monolithic upload: POST /blobs/uploads/, then PUT <location>?digest= with the body."""
    digest = sha256_digest(data)
    start = client.post(f"/v2/{name}/blobs/uploads/", headers={"Content-Length": "0"})
    assert start.status_code == 202, describe_response(start)
    location = start.headers.get("Location")
    assert location, f"upload POST gave no Location:\n{describe_response(start)}"
    url = urljoin(str(start.request.url), location)
    done = client.put(
        _with_query(url, digest=digest),
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert done.status_code == 201, describe_response(done)
    assert done.headers.get("Docker-Content-Digest") in (None, digest), describe_response(done)
    return digest


def push_manifest(
    client: httpx.Client, name: str, reference: str, body: bytes, media_type: str
) -> httpx.Response:
    resp = client.put(
        f"/v2/{name}/manifests/{reference}", content=body, headers={"Content-Type": media_type}
    )
    assert resp.status_code == 201, describe_response(resp)
    return resp


def push_small_image(
    client: httpx.Client, name: str, tag: str, files: Mapping[str, bytes]
) -> tuple[bytes, str]:
    """Push a one-layer OCI image over plain HTTP; returns (manifest bytes, digest)."""
    tar = make_tar(files)
    layer = gzip_bytes(tar)
    config = canonical_json(
        {
            "created": EPOCH,
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar)]},
        }
    )
    manifest_obj = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "digest": push_blob(client, name, config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": OCI_LAYER_GZIP,
                "digest": push_blob(client, name, layer),
                "size": len(layer),
            }
        ],
    }
    manifest = json.dumps(manifest_obj).encode()
    digest = sha256_digest(manifest)
    resp = push_manifest(client, name, tag, manifest, OCI_MANIFEST)
    assert resp.headers.get("Docker-Content-Digest") == digest, describe_response(resp)
    return manifest, digest


def get_manifest(client: httpx.Client, name: str, reference: str) -> httpx.Response:
    resp = client.get(f"/v2/{name}/manifests/{reference}", headers={"Accept": ACCEPT_MANIFESTS})
    assert resp.status_code == 200, describe_response(resp)
    return resp


def check_manifest_response(resp: httpx.Response, expected_digest: str | None = None) -> None:
    """Content-Type is the body's own mediaType, and the digest headers match the bytes."""
    body_digest = sha256_digest(resp.content)
    if expected_digest is not None:
        assert body_digest == expected_digest, (
            f"manifest bytes hash to {body_digest}, expected {expected_digest}\n"
            + describe_response(resp)
        )
    assert resp.headers.get("Docker-Content-Digest") == body_digest, describe_response(resp)
    declared = json.loads(resp.content).get("mediaType")
    content_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
    if declared:
        assert content_type == declared, (
            f"Content-Type {content_type!r} differs from the manifest's mediaType {declared!r}\n"
            + describe_response(resp)
        )


# --------------------------------------------------------------------------- processes under test


@dataclass(frozen=True)
class Registry:
    """The registry under test, listening on 127.0.0.1."""

    kind: str
    host: str  # "127.0.0.1:PORT", as clients spell it in image references
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def ref(self, name: str, tag: str) -> str:
        return f"{self.host}/{name}:{tag}"


@dataclass(frozen=True)
class TokenServer:
    """A cargohold serving with `--auth token`: its data directory (for the CLI, which may
    run while the server does) and the fixture world it was started with."""

    registry: Registry
    data_dir: Path
    world: World
    env: Mapping[str, str] | None = None  # the server's: its database and store

    def cli(self, *args: str, input: bytes | None = None, check: bool = True) -> Proc:
        """`python -m cargohold ARGS --data-dir DATA`, in the server's environment."""
        cmd = [sys.executable, "-m", "cargohold", *args, "--data-dir", str(self.data_dir)]
        return run(cmd, timeout=60, input=input, check=check, env=self.env)


def log_tail(path: Path, offset: int = 0, lines: int = 120) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    text = data.decode("utf-8", errors="replace").splitlines()
    skipped = len(text) - lines
    head = [f"[... {skipped} earlier lines ...]"] if skipped > 0 else []
    return "\n".join(head + text[-lines:])


@dataclass(frozen=True)
class Docker:
    """The docker CLI bound to the private dockerd of this session."""

    env: dict[str, str]
    log_path: Path

    def with_config(self, config_dir: Path) -> Docker:
        """The same engine with a client config (logins) of its own: another machine."""
        return Docker(env={**self.env, "DOCKER_CONFIG": str(config_dir)}, log_path=self.log_path)

    def __call__(
        self, *args: str, timeout: float = 120.0, input: bytes | None = None, check: bool = True
    ) -> Proc:
        try:
            return run(
                [tool("docker"), *args], timeout=timeout, env=self.env, input=input, check=check
            )
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\n--- dockerd log (tail) ---\n{log_tail(self.log_path, lines=40)}"
            ) from None


@dataclass(frozen=True)
class ContainersConfig:
    """Private config for skopeo/podman/buildah: registries.conf, policy, auth file, tmp."""

    env: dict[str, str]
    policy: Path


@dataclass(frozen=True)
class Skopeo:
    config: ContainersConfig

    def __call__(
        self, *args: str, timeout: float = 120.0, check: bool = True, input: bytes | None = None
    ) -> Proc:
        cmd = [tool("skopeo"), "--policy", str(self.config.policy), *args]
        return run(cmd, timeout=timeout, env=self.config.env, check=check, input=input)


@dataclass(frozen=True)
class StorageTool:
    """podman or buildah with a private vfs container storage."""

    binary: str
    root: Path
    config: ContainersConfig

    def __call__(
        self, *args: str, timeout: float = 120.0, check: bool = True, input: bytes | None = None
    ) -> Proc:
        cmd = [
            tool(self.binary),
            "--root", str(self.root / "root"), "--runroot", str(self.root / "run"),
            "--storage-driver", "vfs", *args,
        ]  # fmt: skip
        return run(cmd, timeout=timeout, env=self.config.env, check=check, input=input)


@contextlib.contextmanager
def registry_serving(
    process: subprocess.Popen[bytes], url: str, log_path: Path, timeout: float = 30
) -> Iterator[None]:
    """Wait until the registry `process` answers `url`/v2/ (401: auth is on), then run the
    block; stop the process after it, whatever happens (SIGTERM, then SIGKILL)."""
    from tests.backends import stop_process

    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited\n{log_tail(log_path)}", pytrace=False)
            try:
                if httpx.get(f"{url}/v2/", timeout=2).status_code == 401:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready\n{log_tail(log_path)}", pytrace=False)
            time.sleep(0.2)
        yield
    finally:
        stop_process(process)
