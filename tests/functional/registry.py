"""A small test client that speaks the OCI Distribution API in the spec's own steps."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import botocore.session
import httpx
from botocore.config import Config
from starlette.types import ASGIApp, Message

from cargohold.config import Settings
from cargohold.oci import mediatypes
from cargohold.services.context import Context


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:" + hashlib.new(algorithm, data).hexdigest()


# Malformed digests, each refused with DIGEST_INVALID / 400 wherever a digest is expected.
BAD_DIGESTS = {
    "not-hex": "sha256:xyz",
    "unsupported-algorithm": "md5:d41d8cd98f00b204e9800998ecf8427e",
    "too-short": "sha256:" + "a" * 63,
    "too-long": "sha256:" + "a" * 65,
    "uppercase-hex": "sha256:" + "A" * 64,
    "sha512-of-sha256-length": "sha512:" + "a" * 64,
    "empty-encoded": "sha256:",
    "no-algorithm": ":" + "a" * 64,
    "huge": "sha256:" + "a" * 10_000,
}
UNKNOWN_DIGEST = "sha256:" + "0" * 64


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
    app: ASGIApp | None = None

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

    async def raw(
        self,
        method: str,
        raw_path: bytes | str,
        *,
        query: bytes = b"",
        headers: Mapping[str, str | bytes] | None = None,
        body: bytes | Iterable[bytes] = b"",
        disconnect: bool = False,
    ) -> httpx.Response:
        """One request straight into the ASGI app, as a server would hand it over.

        Nothing normalises the path (`..` and `%2e%2e` arrive as sent); `scope["path"]`
        is the percent-decoded `raw_path`, as servers build it. `body` is one message,
        or a list of chunks; with `disconnect` the client hangs up after the chunks.
        The answer is exactly what the app sent, including any body on HEAD.
        """
        assert self.app is not None, "the registry fixture passes the app"
        path = raw_path.encode() if isinstance(raw_path, str) else raw_path
        raw_headers = [(b"host", b"registry.test")]
        for key, value in (headers or {}).items():
            encoded = value.encode("latin-1") if isinstance(value, str) else value
            raw_headers.append((key.lower().encode(), encoded))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote_to_bytes(path).decode("utf-8", "replace"),
            "raw_path": path,
            "query_string": query,
            "root_path": "",
            "headers": raw_headers,
            "server": ("registry.test", 80),
            "client": ("127.0.0.1", 50000),
        }
        messages: list[Message]
        if isinstance(body, bytes):
            messages = [{"type": "http.request", "body": body, "more_body": False}]
        else:
            messages = [{"type": "http.request", "body": c, "more_body": True} for c in body]
            if not disconnect:
                messages.append({"type": "http.request", "body": b"", "more_body": False})
        if disconnect:
            messages.append({"type": "http.disconnect"})

        async def receive() -> Message:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        started: list[Message] = []
        sent = bytearray()

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.append(message)
            elif message["type"] == "http.response.body":
                sent.extend(message.get("body", b""))

        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            # Starlette answers 500 and then re-raises: report it like any other 5xx.
            if not started:
                raise
            error: Exception | None = exc
        else:
            error = None
        assert len(started) == 1, f"the app started {len(started)} responses"
        response = httpx.Response(
            started[0]["status"],
            headers=started[0].get("headers", []),
            content=bytes(sent),
            request=httpx.Request(method, "http://registry.test" + path.decode("latin-1")[:2000]),
        )
        try:
            await fail_on_server_error(response)
        except AssertionError as failure:
            raise failure from error
        return response

    async def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of a metadata table, for checking that nothing was left half-written."""
        return [dict(row) for row in await self.context.db.fetchall(f"SELECT * FROM {table}")]

    def stored_files(self, prefix: str = "") -> list[str]:
        """Files in the blob store whose path (relative to the store) starts with `prefix`.

        On S3 an upload's objects (`KEY.upload/...`) count as the one file `KEY.upload`."""
        settings = self.context.settings
        if settings.storage == "s3":
            keys = {
                key.split(".upload/")[0] + ".upload" if ".upload/" in key else key
                for key in s3_keys(settings)
            }
            return sorted(key for key in keys if key.startswith(prefix))
        root: Path = settings.blob_dir
        if not root.exists():
            return []
        files = (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        return sorted(f for f in files if f.startswith(prefix))

    async def stored_size(self, path: str) -> int:
        """Bytes of a stored file (for an upload, the bytes its session has)."""
        if self.context.settings.storage != "s3":
            return (self.context.settings.blob_dir / path).stat().st_size
        if not path.endswith(".upload"):
            return await self.context.storage.size(path)
        upload_id = path.removesuffix(".upload").rsplit("/", 1)[1]
        row = await self.context.db.fetchone(
            "SELECT state FROM uploads WHERE id = :id", {"id": upload_id}
        )
        assert row is not None, f"no session for {path}"
        key = path.removesuffix(".upload")
        return sum(
            [len(data) async for data in self.context.storage.read_upload(key, row["state"])]
        )

    async def remove_stored(self, path: str) -> None:
        """Take a stored object away behind the registry's back."""
        await self.context.storage.delete(path)


def s3_keys(settings: Settings) -> list[str]:
    """Every key under the settings' S3 prefix, relative to it (a synchronous listing)."""
    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=settings.s3_endpoint,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key,
        aws_secret_access_key=settings.s3_secret_key,
        config=Config(s3={"addressing_style": "path" if settings.s3_path_style else "auto"}),
    )
    prefix = settings.s3_prefix.strip("/") + "/" if settings.s3_prefix.strip("/") else ""
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=settings.s3_bucket, Prefix=prefix
    ):
        keys.extend(item["Key"][len(prefix) :] for item in page.get("Contents", []))
    return keys


async def fail_on_server_error(response: httpx.Response) -> None:
    """Fail the test on any 5xx: bad input must get a 4xx, never a server error."""
    if response.status_code >= 500:
        await response.aread()
        raise AssertionError(
            f"{response.request.method} {response.request.url} answered"
            f" {response.status_code}: {response.text[:500]}"
        )


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert body.get("errors"), body
    code: str = body["errors"][0]["code"]
    return code
