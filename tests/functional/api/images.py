"""Pushing through /v2 as someone of the API world (people.py), and the packages the
lifecycle tests work on: many tags, and multi-arch indexes with signatures.

Times are set on the rows afterwards (`age`), so a test can say "pushed 40 days ago"."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from tests.functional.api.people import Api, email
from tests.functional.registry import Image, Registry, image_manifest, index_manifest, random_blob

DAY = 86400
SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SBOM = "application/spdx+json"


async def basic(api: Api, who: str, scope: str = "admin:package") -> dict[str, str]:
    credentials = f"{email(who)}:{await api.token(who, scope)}"
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


async def bearer(api: Api, who: str, scope: str) -> dict[str, str]:
    """A registry token from GET /token, as docker gets one (`repository:NAME:ACTIONS`)."""
    params = {"service": api.context.settings.token_service, "scope": scope}
    response = await api.client.get("/token", params=params, headers=await basic(api, who))
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


@asynccontextmanager
async def registry_as(
    api: Api, who: str, headers: dict[str, str] | None = None
) -> AsyncIterator[Registry]:
    """A /v2 client acting as `who` (Basic with their admin:package token by default)."""
    auth = headers if headers is not None else await basic(api, who)
    async with httpx.AsyncClient(
        transport=api.transport, base_url=api.client.base_url, headers=auth
    ) as client:
        yield Registry(client, api.context)


def small_image(label: str) -> Image:
    return image_manifest([random_blob(32)], f'{{"os":"linux","label":"{label}"}}'.encode())


def referrer(subject: Image, artifact_type: str = SIGNATURE) -> Image:
    return image_manifest(
        [random_blob(16)],
        b"{}",
        config_media_type="application/vnd.oci.empty.v1+json",
        artifact_type=artifact_type,
        subject={
            "mediaType": subject.media_type,
            "digest": subject.digest,
            "size": len(subject.manifest),
        },
    )


@dataclass
class SignedIndex:
    index: Image
    children: list[Image]
    signature: Image  # refers to the index
    sbom: Image  # refers to the first child

    @property
    def digests(self) -> set[str]:
        return {m.digest for m in (self.index, *self.children, self.signature, self.sbom)}


async def push_signed_index(
    registry: Registry, name: str, tag: str | None, children: list[Image] | None = None
) -> SignedIndex:
    """A two-platform index (tagged, or pushed by digest when `tag` is None), a signature
    of the index and an SBOM of its first platform."""
    children = children or [small_image(f"{tag}-amd64"), small_image(f"{tag}-arm64")]
    for child in children:
        await registry.push_image(name, child.digest, child)
    index = index_manifest(children)
    await registry.push_image(name, tag or index.digest, index)
    signature, sbom = referrer(index), referrer(children[0], SBOM)
    for attached in (signature, sbom):
        await registry.push_image(name, attached.digest, attached)
    return SignedIndex(index, children, signature, sbom)


@dataclass
class Lifecycle:
    """acme/web/api with: tags build-1 … build-12 (build-N pushed 12.5-N days ago), v1.0 and
    v2.0 (200 days old), the tagged signed index `multi` (100 days old), an untagged
    signed index sharing its amd64 platform with `multi` (100 days), an old and a young
    untagged image (100 and 2 days)."""

    name: str
    builds: dict[str, str] = field(default_factory=dict)  # tag -> digest
    releases: dict[str, str] = field(default_factory=dict)
    multi: SignedIndex | None = None
    orphan: SignedIndex | None = None
    old_untagged: str = ""
    young_untagged: str = ""


async def age(
    api: Api, name: str, days: float, *, tag: str | None = None, digest: str | None = None
) -> None:
    """Pretend a tag was pushed, or a manifest created, `days` ago."""
    when = api.context.now() - days * DAY
    package = {"n": name, "t": when}
    if tag is not None:
        await api.context.db.execute(
            "UPDATE tags SET updated_at = :t WHERE name = :tag"
            " AND package_id = (SELECT id FROM packages WHERE name = :n)",
            {**package, "tag": tag},
        )
    if digest is not None:
        await api.context.db.execute(
            "UPDATE manifests SET created_at = :t WHERE digest = :d"
            " AND package_id = (SELECT id FROM packages WHERE name = :n)",
            {**package, "d": digest},
        )


async def build_lifecycle(api: Api, name: str = "acme/web/api") -> Lifecycle:
    found = Lifecycle(name)
    async with registry_as(api, "owner") as registry:
        for n in range(1, 13):
            image = small_image(f"build-{n}")
            found.builds[f"build-{n}"] = await registry.push_image(name, f"build-{n}", image)
            await age(api, name, 12.5 - n, tag=f"build-{n}", digest=image.digest)
        for tag in ("v1.0", "v2.0"):
            found.releases[tag] = await registry.push_image(name, tag, small_image(tag))
            await age(api, name, 200, tag=tag, digest=found.releases[tag])
        found.multi = await push_signed_index(registry, name, "multi")
        orphan_children = [found.multi.children[0], small_image("orphan-arm64")]
        found.orphan = await push_signed_index(registry, name, None, orphan_children)
        for digest in found.multi.digests | found.orphan.digests:
            await age(api, name, 100, digest=digest)
        await age(api, name, 100, tag="multi")
        for label, days in (("old", 100), ("young", 2)):
            image = small_image(label)
            await registry.push_image(name, image.digest, image)
            await age(api, name, days, digest=image.digest)
            setattr(found, f"{label}_untagged", image.digest)
    return found
