"""A small test client that speaks the OCI Distribution API in the spec's own steps."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import httpx

from cargohold.oci import mediatypes
from cargohold.services.context import Context


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def random_blob(size: int = 1024) -> bytes:
    return os.urandom(size)


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}


@dataclass
class Image:
    manifest: bytes
    media_type: str
    blobs: list[bytes]

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)


def image_manifest(
    layers: list[bytes],
    config: bytes = b'{"architecture":"amd64","os":"linux"}',
    *,
    media_type: str = mediatypes.OCI_MANIFEST,
    subject: dict[str, Any] | None = None,
    artifact_type: str | None = None,
    config_media_type: str | None = None,
    annotations: dict[str, str] | None = None,
) -> Image:
    docker = media_type == mediatypes.DOCKER_MANIFEST
    layer_type = (
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
        if docker
        else "application/vnd.oci.image.layer.v1.tar+gzip"
    )
    config_type = config_media_type or (
        "application/vnd.docker.container.image.v1+json"
        if docker
        else "application/vnd.oci.image.config.v1+json"
    )
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(config_type, config),
        "layers": [descriptor(layer_type, layer) for layer in layers],
    }
    if subject is not None:
        document["subject"] = subject
    if artifact_type is not None:
        document["artifactType"] = artifact_type
    if annotations is not None:
        document["annotations"] = annotations
    return Image(json.dumps(document).encode(), media_type, [config, *layers])


def index_manifest(children: list[Image], media_type: str = mediatypes.OCI_INDEX) -> Image:
    platforms = [("amd64", "linux"), ("arm64", "linux"), ("s390x", "linux")]
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [
            descriptor(
                child.media_type,
                child.manifest,
                platform={"architecture": arch, "os": os_name},
            )
            for child, (arch, os_name) in zip(children, platforms, strict=False)
        ],
    }
    return Image(json.dumps(document).encode(), media_type, [])


@dataclass
class Registry:
    client: httpx.AsyncClient
    context: Context

    async def push_blob(self, name: str, data: bytes) -> str:
        digest = digest_of(data)
        response = await self.client.post(
            f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=data
        )
        assert response.status_code == 201, response.text
        return digest

    async def start_upload(self, name: str) -> str:
        response = await self.client.post(f"/v2/{name}/blobs/uploads/")
        assert response.status_code == 202, response.text
        return response.headers["location"]

    async def put_manifest(
        self, name: str, reference: str, image: Image, *, push_blobs: bool = True
    ) -> httpx.Response:
        if push_blobs:
            for blob in image.blobs:
                await self.push_blob(name, blob)
        return await self.client.put(
            f"/v2/{name}/manifests/{reference}",
            content=image.manifest,
            headers={"Content-Type": image.media_type},
        )

    async def push_image(self, name: str, reference: str, image: Image) -> str:
        response = await self.put_manifest(name, reference, image)
        assert response.status_code == 201, response.text
        return image.digest


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert "errors" in body and body["errors"], body
    code: str = body["errors"][0]["code"]
    return code
