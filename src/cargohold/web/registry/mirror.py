"""The pull-through cache on /v2 (services/registry/pull_through.py): what the manifest and
blob routes do on a miss of a mirror's package, and the tag check on a hit. A package that
is no mirror's costs nothing more on a hit, and one lookup on a miss."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from cargohold.oci.digest import Digest, is_digest
from cargohold.oci.errors import RegistryError
from cargohold.services.context import Context
from cargohold.services.registry import pull_through
from cargohold.services.registry.blobs import BlobInfo
from cargohold.services.registry.manifests import StoredManifest
from cargohold.services.registry.mirrors import Sealed
from cargohold.services.registry.pull_through import Live
from cargohold.web.registry.common import content_headers


async def manifest_on_miss(
    ctx: Context, name: str, reference: str, miss: RegistryError
) -> tuple[StoredManifest, str | None]:
    """Fetch the manifest from the mirror `name` belongs to; `miss` again when none."""
    found = await pull_through.find(ctx, name)
    if found is None:
        raise miss
    pulled = await pull_through.pull_manifest(ctx, found, name, reference)
    return pulled.manifest, pulled.warning


async def revalidate(
    ctx: Context, name: str, reference: str, stored: StoredManifest
) -> tuple[StoredManifest, str | None]:
    """A held tag of a mirror's package, checked upstream once its TTL has passed."""
    if is_digest(reference):
        return stored, None
    pulled = await pull_through.revalidate(ctx, name, reference, stored)
    return pulled.manifest, pulled.warning


async def blob_on_miss(
    ctx: Context, name: str, digest: Digest, miss: RegistryError
) -> BlobInfo | Live:
    found = await pull_through.find(ctx, name)
    if found is None:
        raise miss
    return await pull_through.pull_blob(ctx, found, name, digest)


async def with_upstream_referrers(
    ctx: Context,
    found: Sealed,
    name: str,
    digest: Digest,
    *,
    artifact_type: str | None,
    page: list[dict[str, Any]],
    more: bool,
    last: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], bool, str | None]:
    """A page of the referrers of `name`, a package of mirror `found`: the ones held here
    and the upstream's, in digest order after `last` (the ones held win), at most `limit`;
    whether more remain, and a `Warning` value when the upstream could not be asked."""
    upstream, warning = await pull_through.upstream_referrers(
        ctx, found, name, digest, artifact_type
    )
    merged = {d["digest"]: d for d in upstream if last is None or d["digest"] > last}
    merged.update((d["digest"], d) for d in page)
    ordered = sorted(merged.values(), key=lambda d: str(d["digest"]))
    return ordered[:limit], more or len(ordered) > limit, warning


def live_response(request: Request, digest: str, live: Live) -> Response:
    """The bytes of a blob as the upstream sends them (a Range is ignored: the whole blob,
    200). When they turn out not to match the digest, the answer breaks off before its end."""
    headers = content_headers(digest, live.size, "application/octet-stream")
    if request.method == "HEAD":
        pull_through.stop_listening(live)
        return Response(status_code=200, headers=headers)
    return StreamingResponse(live.chunks, status_code=200, headers=headers)


async def docker_name(ctx: Context, name: str) -> str:
    """The package a Docker engine means when it uses this registry as one of its
    `registry-mirrors` (`docker_mirror` = WS/PREFIX): `busybox` and `library/busybox` are
    `WS/PREFIX/busybox`, `bitnami/redis` is `WS/PREFIX/bitnami/redis`; a name of a package
    held, or in a workspace of this registry, is left alone."""
    target = ctx.settings.docker_mirror
    assert target is not None
    first, sep, rest = name.partition("/")
    if not sep:
        return f"{target}/{name}"
    if name.startswith(f"{target}/"):
        return name
    if first == "library":
        held = await ctx.db.fetchone("SELECT 1 FROM packages WHERE name = :n", {"n": name})
        return name if held is not None else f"{target}/{rest}"
    workspace = await ctx.db.fetchone("SELECT 1 FROM workspaces WHERE slug = :s", {"s": first})
    return name if workspace is not None else f"{target}/{name}"
