"""GET /v2/<name>/referrers/<digest>: an image index of the manifests that refer to it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cargohold.oci import mediatypes
from cargohold.oci.digest import Digest
from cargohold.services import manifests
from cargohold.web.registry.common import context


async def list_referrers(request: Request, name: str, digest: str) -> Response:
    artifact_type = request.query_params.get("artifactType") or None
    descriptors = await manifests.list_referrers(
        context(request), name=name, digest=Digest.parse(digest), artifact_type=artifact_type
    )
    headers = {"Content-Type": mediatypes.OCI_INDEX}
    if artifact_type is not None:
        headers["OCI-Filters-Applied"] = "artifactType"
    body = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": descriptors}
    return JSONResponse(body, headers=headers, media_type=mediatypes.OCI_INDEX)
