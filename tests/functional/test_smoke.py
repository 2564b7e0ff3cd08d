"""A whole push and pull through the app, end to end."""

from __future__ import annotations

from tests.functional.registry import Registry, digest_of, image_manifest, random_blob


async def test_push_then_pull_returns_the_exact_bytes(registry: Registry) -> None:
    layer = random_blob(4096)
    image = image_manifest([layer])
    await registry.push_image("acme/web", "v1", image)

    manifest = await registry.client.get("/v2/acme/web/manifests/v1")
    assert manifest.status_code == 200
    assert manifest.content == image.manifest
    pulled = await registry.client.get(f"/v2/acme/web/blobs/{digest_of(layer)}")
    assert pulled.status_code == 200
    assert pulled.content == layer
