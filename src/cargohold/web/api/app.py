"""`create_api(context)`: the management API, mounted at /api/v1 by `web.app`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from cargohold.services.context import Context
from cargohold.web.api import (
    gc,
    packages,
    problems,
    projects,
    protection,
    repositories,
    retention,
    tags,
    tokens,
    usage,
    workspaces,
)

_DESCRIPTION = """Manage workspaces, members, projects, repositories, grants, packages,
tags, retention policies, tag protection, storage quotas and tokens, and read storage
usage. Authenticate with `Authorization: Bearer <API token>` (or Basic with your email
and an API token). Errors are RFC 9457 problem JSON (`application/problem+json`). The
rules are in docs/api-management.md, docs/retention.md and docs/usage.md."""


def _operation_id(route: APIRoute) -> str:
    """The operation's function name (each is unique), e.g. `get_package`."""
    return route.name


def create_api(context: Context) -> FastAPI:
    api = FastAPI(
        title="Cargohold management API",
        version="1",
        description=_DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        exception_handlers=problems.HANDLERS,
        generate_unique_id_function=_operation_id,
    )
    api.state.context = context
    # Sub-resources before packages: `/packages/{name:path}` would otherwise take
    # `.../-/tags`, `.../-/retention`, `.../-/protection` and `.../-/usage`.
    for module in (
        workspaces,
        projects,
        repositories,
        tags,
        retention,
        protection,
        usage,
        packages,
        tokens,
        gc,
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
