"""Every route of the app is in a table of the authorization matrix ("Every new endpoint
joins the authorization matrix tests").

The requests the matrices make are recorded (through a transport that answers them
without any app) and matched against the app's routes as its routers match them, in
order: a route, and a method of it, that no request of any table reaches fails here, until
it joins a table (or, if anyone may call it by design, `OPEN` below, saying why)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Mount, Route

from cargohold.config import Settings
from cargohold.web.api.app import create_api
from cargohold.web.app import create_app
from cargohold.web.registry import routes as v2_routes
from cargohold.web.ui.app import create_ui
from cargohold.web.ui.mount import UiMount
from tests.functional.auth import matrix
from tests.functional.auth.api_matrix import API_OPERATIONS, api_path
from tests.functional.auth.ui_matrix import OPEN_PAGES, UI_OPERATIONS, ui_path
from tests.functional.auth.world import PRIVATE, PUBLIC, World

# Routes anyone may call by design, or whose callers are tested as a table elsewhere.
OPEN: dict[str, str] = {
    "/token": "the token endpoint: test_token_endpoint.py, and every `jwt` caller",
    "/healthz": "liveness, for load balancers",
    "/readyz": "readiness, for load balancers",
    "/v2": "the API version check: test_realm.py",
    "/v2/": "the API version check: test_realm.py",
    "/api/v1/openapi.json": "the API's description",
    "/api/v1/docs": "the API's documentation page",
    "/api/v1/static": "the documentation page's files",
    "/static": "the UI's style sheets and scripts",
    "/api/v1/oidc/exchange": "an ID token for a registry token: every `exchange` caller",
    **OPEN_PAGES,
}


def _recorder() -> tuple[httpx.AsyncClient, list[tuple[str, str]]]:
    """A client whose requests are only written down (upload sessions get a location)."""
    seen: list[tuple[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path))
        if request.url.path == "/token":
            return httpx.Response(200, json={"token": "recorded"})
        location = request.url.path + "session" if request.url.path.endswith("/") else ""
        return httpx.Response(202, headers={"location": location})

    client = httpx.AsyncClient(
        transport=httpx.MockTransport(answer), base_url="http://registry.test"
    )
    return client, seen


async def _requests(world: World) -> list[tuple[str, str]]:
    """Every request of every table of the matrix, as (method, path)."""
    client, seen = _recorder()
    async with client:
        for target in (PRIVATE, PUBLIC):
            for operation in matrix.OPERATIONS:
                await matrix.perform(client, world, target, operation, {})
        for operation in matrix.POLICY_OPERATIONS:
            await matrix.perform_policy(client, operation, "policy", {})
        for operation in matrix.WEBHOOK_OPERATIONS:
            await matrix.perform_webhook(client, operation, 1, 1, {})
        for operation in matrix.REPLICATION_OPERATIONS:
            await matrix.perform_replication(client, operation, 1, 1, {})
        for operation in matrix.MIRROR_OPERATIONS:
            await matrix.perform_mirror(client, operation, {})
    seen += [("GET", path) for path in matrix.AUDIT_PATHS.values()]
    seen += [(op.method, api_path(world, op.path)) for op in API_OPERATIONS.values()]
    made = {"policy": "p", "webhook_web": "1", "replication_web": "1"}
    for op in UI_OPERATIONS.values():
        seen.append((op.method, ui_path(world, op.path, made).partition("?")[0]))
    return seen


def _first(routes: list[BaseRoute], method: str, path: str) -> BaseRoute | None:
    """The route a router takes for this request: the first whose path and method match."""
    for route in routes:
        regex = getattr(route, "path_regex", None)
        methods = getattr(route, "methods", None) or set()
        if regex is not None and regex.match(path) and method in methods:
            return route
    return None


def _api_routes() -> list[APIRoute]:
    api = create_api(None)  # type: ignore[arg-type]  # the routes only; nothing runs
    found: list[APIRoute] = []
    for route in api.routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            found += [r for r in original.routes if isinstance(r, APIRoute)]
        elif isinstance(route, APIRoute):
            found.append(route)
    return found


def _ui_routes() -> list[Route]:
    ui = create_ui(None)  # type: ignore[arg-type]
    return [route for route in ui.routes if isinstance(route, Route)]


def _methods(route: BaseRoute) -> Iterator[str]:
    yield from sorted(set(getattr(route, "methods", None) or ()) - {"HEAD"})


def _v2_covered(requests: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """(method, pattern) of the /v2 route table that the requests reach."""
    covered = set()
    for method, path in requests:
        if not path.startswith("/v2/"):
            continue
        for pattern, methods in v2_routes._ROUTES:
            if pattern.fullmatch(path[len("/v2/") :]):
                if method in methods:
                    covered.add((method, pattern.pattern))
                break
    return covered


@pytest.fixture(scope="module")
def requests(world: World) -> list[tuple[str, str]]:
    return asyncio.run(_requests(world))


def test_every_route_of_the_app_is_known(tmp_path: Path) -> None:
    """The app's own routes are the /v2 dispatcher, the API's and the UI's mounts, and
    those of OPEN: a new one must join a table (or OPEN)."""
    app = create_app(Settings(data_dir=tmp_path, auth="token"))
    for route in app.routes:
        if isinstance(route, UiMount):
            continue
        path = getattr(route, "path", "")
        if isinstance(route, Mount):
            assert path == "/api/v1", path
            continue
        assert path in OPEN or path == "/v2/{path:path}", f"{path} is in no matrix table"


def test_every_api_route_is_in_a_matrix_table(requests: list[tuple[str, str]]) -> None:
    routes = _api_routes()
    reached = set()
    for method, path in requests:
        if path.startswith("/api/v1/"):
            route = _first(list(routes), method, path[len("/api/v1") :])
            if route is not None:
                reached.add((method, id(route)))
    missing = [
        f"{method} /api/v1{route.path}"
        for route in routes
        for method in _methods(route)
        if (method, id(route)) not in reached and f"/api/v1{route.path}" not in OPEN
    ]
    assert missing == [], "in no authorization matrix table: " + ", ".join(missing)


def test_every_ui_route_is_in_a_matrix_table(requests: list[tuple[str, str]]) -> None:
    routes = _ui_routes()
    reached = set()
    for method, path in requests:
        route = _first(list(routes), method, path)
        if route is not None and not path.startswith(("/v2", "/api/v1")):
            reached.add((method, id(route)))
    missing = [
        f"{method} {route.path}"
        for route in routes
        for method in _methods(route)
        if (method, id(route)) not in reached and route.path not in OPEN
    ]
    assert missing == [], "in no authorization matrix table: " + ", ".join(missing)


def test_every_registry_route_is_in_a_matrix_table(requests: list[tuple[str, str]]) -> None:
    covered = _v2_covered(requests)
    missing = [
        f"{method} /v2/{pattern.pattern}"
        for pattern, methods in v2_routes._ROUTES
        for method in sorted(set(methods) - {"HEAD"})
        if (method, pattern.pattern) not in covered
    ]
    assert missing == [], "in no authorization matrix table: " + ", ".join(missing)
    assert ("GET", "/v2/_catalog") in requests


def test_the_walk_finds_what_is_missing(requests: list[tuple[str, str]]) -> None:
    """The comparison can fail: without the package tables, their routes are missing."""
    routes = _api_routes()
    kept = [(m, p) for m, p in requests if not p.startswith("/api/v1/packages")]
    reached = {
        (method, id(route))
        for method, path in kept
        if path.startswith("/api/v1/")
        and (route := _first(list(routes), method, path[len("/api/v1") :])) is not None
    }
    missing = {
        route.path
        for route in routes
        for method in _methods(route)
        if (method, id(route)) not in reached
    }
    assert "/packages/{name:path}/-/tags/{tag}" in missing
    assert re.search("retention", " ".join(missing))
