"""GET /v2/<name>/referrers/<digest>: an image index of the manifests that refer to it; for
a mirror's package, the upstream's as well."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cargohold.oci import mediatypes
from cargohold.oci.digest import Digest
from cargohold.oci.errors import NameUnknown
from cargohold.services.registry import manifests, pull_through
from cargohold.services.registry.mirrors import Sealed
from cargohold.web.registry import mirror
from cargohold.web.registry.common import context, next_link, page_size


async def list_referrers(request: Request, name: str, digest: str) -> Response:
    ctx = context(request)
    artifact_type = request.query_params.get("artifactType") or None
    n = page_size(request, ctx) or ctx.settings.page_size_max
    last = request.query_params.get("last")
    subject = Digest.parse(digest)
    found: Sealed | None = None
    try:
        descriptors, more = await manifests.list_referrers(
            ctx, name=name, digest=subject, artifact_type=artifact_type, limit=n, last=last
        )
    except NameUnknown:
        found = await pull_through.find(ctx, name)  # a mirror's package not pulled yet?
        if found is None:
            raise
        descriptors, more = [], False
    else:
        if ctx.mirrors.watches(name):  # no I/O unless `name` may be a mirror's
            found = await pull_through.find(ctx, name)
    headers = {}
    if found is not None:  # the upstream's too (docs/mirror.md)
        descriptors, more, warning = await mirror.with_upstream_referrers(
            ctx,
            found,
            name,
            subject,
            artifact_type=artifact_type,
            page=descriptors,
            more=more,
            last=last,
            limit=n,
        )
        if warning is not None:
            headers["Warning"] = warning
    if artifact_type is not None:
        headers["OCI-Filters-Applied"] = "artifactType"
    if more and descriptors:
        query: dict[str, str | int] = {"n": n, "last": descriptors[-1]["digest"]}
        if artifact_type is not None:
            query["artifactType"] = artifact_type
        headers["Link"] = next_link(f"/v2/{name}/referrers/{digest}", query)
    body = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": descriptors}
    return JSONResponse(body, headers=headers, media_type=mediatypes.OCI_INDEX)
