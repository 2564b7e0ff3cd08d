"""`create_api(context)`: the management API, mounted at /api/v1 by `web.app`."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from cargohold.services.context import Context
from cargohold.web.api import (
    audit,
    gc,
    mirrors,
    oidc,
    packages,
    problems,
    projects,
    protection,
    replications,
    repositories,
    retention,
    tags,
    tokens,
    usage,
    webhooks,
    workspaces,
)

_DESCRIPTION = """Manage workspaces, members, projects, repositories, grants, packages,
tags, retention policies, tag protection, storage quotas and tokens, and read storage
usage. Authenticate with `Authorization: Bearer <API token>` (or Basic with your email
and an API token). Errors are RFC 9457 problem JSON (`application/problem+json`). The
rules are in docs/api-management.md, docs/retention.md and docs/usage.md."""


STATIC = Path(__file__).parent / "static"
SWAGGER_UI_VERSION = "5.36.0"  # vendored in static/swagger-ui (see its README.md)
# The docs page runs only the vendored Swagger UI and docs.js from this origin: no inline
# script, nothing from another origin; it fetches openapi.json, and "Try it out" this API.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
_DOCS_HEADERS = {
    "content-security-policy": DOCS_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


class _Static(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["x-content-type-options"] = "nosniff"
        response.headers["cache-control"] = "public, max-age=3600"
        return response


async def docs(request: Request) -> Response:
    """The interactive page: Swagger UI on this API's OpenAPI document."""
    root = escape(request.scope.get("root_path", "").rstrip("/"))
    static = f"{root}/static"
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Cargohold management API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{static}/swagger-ui/swagger-ui.css?v={SWAGGER_UI_VERSION}">
</head>
<body>
<div id="swagger-ui" data-openapi="{root}/openapi.json"></div>
<script src="{static}/swagger-ui/swagger-ui-bundle.js?v={SWAGGER_UI_VERSION}"></script>
<script src="{static}/docs.js?v={SWAGGER_UI_VERSION}"></script>
</body>
</html>
"""
    return HTMLResponse(page, headers=_DOCS_HEADERS)


def _operation_id(route: APIRoute) -> str:
    """The operation's function name (each is unique), e.g. `get_package`."""
    return route.name


def create_api(context: Context) -> FastAPI:
    api = FastAPI(
        title="Cargohold management API",
        version="1",
        description=_DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,  # served by `docs`, from the vendored Swagger UI
        redoc_url=None,
        exception_handlers=problems.HANDLERS,
        generate_unique_id_function=_operation_id,
    )
    api.state.context = context
    api.add_route("/docs", docs, methods=["GET"], include_in_schema=False)
    api.mount("/static", _Static(directory=STATIC), name="static")
    # Sub-resources before packages: `/packages/{name:path}` would otherwise take
    # `.../-/tags`, `.../-/retention`, `.../-/protection` and `.../-/usage`.
    for module in (
        workspaces,
        webhooks,
        mirrors,
        replications,
        projects,
        repositories,
        oidc,
        tags,
        retention,
        protection,
        usage,
        packages,
        tokens,
        gc,
        audit,
    ):
        api.include_router(module.router)

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = FastAPI.openapi(api)
            found = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (problems.Problem, problems.FieldError):
                model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                model_schema.pop("$defs", None)
                found[model.__name__] = model_schema
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
    return api
