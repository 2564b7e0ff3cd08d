"""GET /v2/<name>/tags/list, paginated with n and last."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cargohold.services.registry import manifests
from cargohold.web.registry.common import context, next_link, page_size


async def list_tags(request: Request, name: str) -> Response:
    """Without `n`, a page of `page_size_max` tags: a repository with more gets a `Link` to
    the next page, as with `n`, rather than every tag in one answer."""
    ctx = context(request)
    n = page_size(request, ctx)
    last = request.query_params.get("last")
    limit = n if n is not None else ctx.settings.page_size_max
    tags, more = await manifests.list_tags(ctx, name=name, limit=limit, last=last)
    headers = {}
    if more and tags:
        headers["Link"] = next_link(f"/v2/{name}/tags/list", {"n": limit, "last": tags[-1]})
    return JSONResponse({"name": name, "tags": tags}, headers=headers)
