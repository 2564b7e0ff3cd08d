"""Test data: large incompressible blobs, and OCI image layouts with many small layers."""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path

MiB = 1 << 20
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(4 * MiB):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class BlobFile:
    """A large incompressible file generated once, whose head can be changed cheaply so that
    each repetition pushes a blob the servers have never seen (a new digest)."""

    HEAD = 4096

    def __init__(self, path: Path, size: int, seed: int) -> None:
        self.path = path
        self.size = size
        self._rng = random.Random(seed)
        # A 16 MiB pool of random bytes; each 1 MiB piece of the file is a window of the pool
        # at a random offset, stamped with its index so that no two pieces are equal.
        pool = self._rng.randbytes(16 * MiB + MiB)
        with open(path, "wb") as fh:
            written, index = 0, 0
            while written < size:
                off = self._rng.randrange(16 * MiB)
                piece = index.to_bytes(8, "little") + pool[off + 8 : off + MiB]
                piece = piece[: size - written]
                fh.write(piece)
                written += len(piece)
                index += 1
        self.digest = sha256_file(path)

    def renew(self) -> str:
        """Rewrite the first 4 KiB with fresh random bytes and return the new digest."""
        with open(self.path, "r+b") as fh:
            fh.write(self._rng.randbytes(min(self.HEAD, self.size)))
        self.digest = sha256_file(self.path)
        return self.digest


def config_blob(diff_ids: list[str]) -> bytes:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "cargohold bench"} for _ in diff_ids],
    }
    return json.dumps(config, separators=(",", ":")).encode()


def image_manifest(config: bytes, layers: list[tuple[str, int]]) -> bytes:
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256_bytes(config), "size": len(config)},
        "layers": [
            {"mediaType": OCI_LAYER_TAR, "digest": digest, "size": size} for digest, size in layers
        ],
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


def _layer_tar(rng: random.Random, index: int, payload_size: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"bench/layer-{index:03d}.bin")
        info.size = payload_size
        info.mtime = 0
        tar.addfile(info, io.BytesIO(rng.randbytes(payload_size)))
    return buf.getvalue()


@dataclass
class Layout:
    path: Path
    layers: list[tuple[str, int]]
    total_bytes: int


def small_layers_layout(path: Path, count: int, seed: int, tag: str = "v1") -> Layout:
    """Write an OCI image layout holding one image of ``count`` distinct uncompressed tar
    layers of 4-64 KiB each."""
    rng = random.Random(seed)
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> str:
        digest = sha256_bytes(data)
        (blobs / digest.removeprefix("sha256:")).write_bytes(data)
        return digest

    layers: list[tuple[str, int]] = []
    for i in range(count):
        tar = _layer_tar(rng, i, rng.randrange(4 * 1024, 60 * 1024))
        layers.append((put(tar), len(tar)))
    config = config_blob([d for d, _ in layers])
    put(config)
    manifest = image_manifest(config, layers)
    digest = put(manifest)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (path / "index.json").write_text(json.dumps(index))
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    total = sum(size for _, size in layers) + len(config) + len(manifest)
    return Layout(path, layers, total)
