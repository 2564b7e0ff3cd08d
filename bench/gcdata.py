"""The images of the garbage-collection benchmark: generate, push, delete, look at what is
stored, and check that what was kept still pulls and what was deleted is gone."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from bench import client
from bench.data import OCI_MANIFEST, MiB, config_blob, image_manifest, sha256_bytes
from bench.servers import Server

THREADS = 4  # concurrent requests while pushing, deleting and checking (both servers alike)

T = TypeVar("T")


@dataclass(frozen=True)
class Shape:
    """What a set of images looks like."""

    images: int
    repos: int
    layers: tuple[int, int]  # unique small layers per image, min and max
    layer_bytes: tuple[int, int]  # size of each, min and max
    shared_bytes: int  # one layer every image has
    big_every: int  # every n-th image also has a unique large layer (0: none)
    big_bytes: int
    keep_every: int  # of each repository's images, every n-th is kept, the rest deleted


@dataclass(frozen=True)
class Image:
    repo: str
    tag: str
    digest: str
    manifest: bytes
    blobs: tuple[str, ...]  # config and layers, the shared layer included
    keep: bool


@dataclass
class ImageSet:
    shape: Shape
    repos: list[str]
    images: list[Image]
    data: dict[str, bytes]  # every blob, by digest
    shared: str
    kept: list[Image] = field(init=False)
    doomed: list[Image] = field(init=False)

    def __post_init__(self) -> None:
        self.kept = [i for i in self.images if i.keep]
        self.doomed = [i for i in self.images if not i.keep]

    def kept_blobs(self) -> set[str]:
        return {d for i in self.kept for d in i.blobs}

    def garbage(self) -> set[str]:
        """The blobs only deleted images name: what a collection must remove."""
        return {d for i in self.doomed for d in i.blobs} - self.kept_blobs()

    def garbage_bytes(self) -> int:
        return sum(len(self.data[d]) for d in self.garbage())

    def total_bytes(self) -> int:
        return sum(len(b) for b in self.data.values())

    def describe(self) -> str:
        return (
            f"{len(self.images)} images in {len(self.repos)} repositories, {len(self.data)} blobs"
            f" ({self.total_bytes() / MiB:.1f} MiB); {len(self.doomed)} images deleted,"
            f" {len(self.garbage())} blobs ({self.garbage_bytes() / MiB:.1f} MiB) to collect"
        )


def make_set(prefix: str, shape: Shape, seed: int) -> ImageSet:
    """Image ``i`` goes to repository ``i % repos`` as tag ``i{i:05d}``; it is kept when its
    index within its repository is a multiple of ``keep_every``."""
    rng = random.Random(seed)
    repos = [f"{prefix}/app-{r:02d}" for r in range(shape.repos)]
    shared_bytes = rng.randbytes(shape.shared_bytes)
    shared = sha256_bytes(shared_bytes)
    data = {shared: shared_bytes}
    images = []
    for i in range(shape.images):
        blobs = [
            rng.randbytes(rng.randint(*shape.layer_bytes))
            for _ in range(rng.randint(*shape.layers))
        ]
        if shape.big_every and i % shape.big_every == 0:
            blobs.append(rng.randbytes(shape.big_bytes))
        layers = [(sha256_bytes(b), len(b)) for b in blobs] + [(shared, len(shared_bytes))]
        config = config_blob([d for d, _ in layers])
        manifest = image_manifest(config, layers)
        for b in [config, *blobs]:
            data[sha256_bytes(b)] = b
        images.append(
            Image(
                repo=repos[i % shape.repos],
                tag=f"i{i:05d}",
                digest=sha256_bytes(manifest),
                manifest=manifest,
                blobs=(sha256_bytes(config), *(d for d, _ in layers)),
                keep=(i // shape.repos) % shape.keep_every == 0,
            )
        )
    return ImageSet(shape, repos, images, data, shared)


def _parallel(fn: Callable[[T], None], items: Iterable[T]) -> None:
    with ThreadPoolExecutor(THREADS) as pool:
        for _ in pool.map(fn, items):
            pass


def push(server: Server, images: ImageSet) -> None:
    """The shared layer to each repository, then every image (blobs, then the manifest by
    tag), ``THREADS`` images at a time."""
    for repo in images.repos:
        client.push_blob(server.base, repo, images.data[images.shared], images.shared)

    def one(image: Image) -> None:
        for digest in image.blobs:
            if digest != images.shared:
                client.push_blob(server.base, image.repo, images.data[digest], digest)
        client.push_manifest(server.base, image.repo, image.tag, image.manifest)

    _parallel(one, images.images)


def delete(server: Server, images: ImageSet) -> None:
    """Delete the doomed images' manifests by digest (their tags go with them)."""

    def one(image: Image) -> None:
        status = client.delete(f"{server.base}/v2/{image.repo}/manifests/{image.digest}")
        if status != 202:
            raise client.BenchError(f"{server.name}: DELETE {image.repo}@{image.digest}: {status}")

    _parallel(one, images.doomed)


def blob_root(server: Server) -> Path:
    if server.kind == "cargohold":
        return server.data_dir / "storage" / "blobs"
    return server.data_dir / "docker" / "registry" / "v2" / "blobs"


def stored_blobs(server: Server) -> dict[str, int]:
    """Every blob in the server's storage directory: digest → size. Cargohold keeps
    ``blobs/sha256/ab/abcd…``, distribution ``blobs/sha256/ab/abcd…/data``."""
    out: dict[str, int] = {}
    root = blob_root(server)
    if not root.is_dir():
        return out
    for algo in root.iterdir():
        for path in algo.glob("*/*"):
            data = path / "data" if server.kind == "distribution" else path
            if data.is_file():
                out[f"{algo.name}:{path.name}"] = data.stat().st_size
    return out


def verify(server: Server, images: ImageSet) -> dict[str, int]:
    """After a collection: every kept image pulls (its manifest by tag, byte for byte, and
    each blob, checked against its digest), every deleted image's manifest answers 404 by
    digest, and every blob only deleted images named is gone from storage and answers 404.
    Raises BenchError otherwise; returns how many requests each check made."""
    stored = stored_blobs(server)
    left = sorted(images.garbage() & stored.keys())
    if left:
        raise client.BenchError(
            f"{server.name}: {len(left)} garbage blobs still stored: {left[:3]}"
        )
    lost = sorted(images.kept_blobs() - stored.keys())
    if lost:
        raise client.BenchError(f"{server.name}: {len(lost)} kept blobs were deleted: {lost[:3]}")

    def kept(image: Image) -> None:
        url = f"{server.base}/v2/{image.repo}"
        status, body = client.get(f"{url}/manifests/{image.tag}", OCI_MANIFEST)
        if (status, body) != (200, image.manifest):
            raise client.BenchError(f"{server.name}: kept {image.repo}:{image.tag}: {status}")
        for digest in image.blobs:
            status, body = client.get(f"{url}/blobs/{digest}")
            if status != 200 or "sha256:" + hashlib.sha256(body).hexdigest() != digest:
                raise client.BenchError(f"{server.name}: kept blob {digest}: HTTP {status}")

    garbage = images.garbage()

    def doomed(image: Image) -> None:
        url = f"{server.base}/v2/{image.repo}"
        status, _ = client.get(f"{url}/manifests/{image.digest}", OCI_MANIFEST)
        if status != 404:
            raise client.BenchError(f"{server.name}: deleted {image.digest}: HTTP {status}")
        for digest in image.blobs:
            if digest in garbage:
                status, _ = client.get(f"{url}/blobs/{digest}")
                if status != 404:
                    raise client.BenchError(f"{server.name}: collected {digest}: HTTP {status}")

    _parallel(kept, images.kept)
    _parallel(doomed, images.doomed)
    return {
        "kept_manifest_gets": len(images.kept),
        "kept_blob_gets": sum(len(i.blobs) for i in images.kept),
        "deleted_manifest_gets": len(images.doomed),
        "collected_blob_gets": sum(1 for i in images.doomed for d in i.blobs if d in garbage),
    }
