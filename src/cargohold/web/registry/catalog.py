"""GET /v2/_catalog, paginated with n and last."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cargohold.services.accounts import principals
from cargohold.services.registry import packages
from cargohold.web.registry.auth import Caller, unauthorized
from cargohold.web.registry.common import context, next_link, page_size


async def list_catalog(request: Request) -> Response:
    ctx = context(request)
    n = page_size(request, ctx)
    limit = n if n is not None else ctx.settings.page_size_max
    last = request.query_params.get("last")
    caller: Caller = request.state.caller
    if caller.open:
        names, more = await packages.list_packages(ctx.db, limit=limit, last=last)
    else:
        if caller.claims is not None and not caller.claims.catalog:
            raise unauthorized(
                request,
                "the token does not cover the catalog",
                scope="registry:catalog:*",
                error="insufficient_scope",
            )
        principal = await caller.subject()
        names, more = await principals.readable_packages(ctx.db, principal, limit=limit, last=last)
    headers = {}
    if more and names:
        headers["Link"] = next_link("/v2/_catalog", {"n": limit, "last": names[-1]})
    return JSONResponse({"repositories": names}, headers=headers)
