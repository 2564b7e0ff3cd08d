"""The management API in-process, with token auth, on a fresh data dir per test.

Every test starts from the same small world, made through the services (see
`people.py`); `api.headers("owner")` are the headers of owner@'s admin:package
token, `api.headers("reader", "read:package")` of a narrower one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from cargohold.config import Settings
from cargohold.web.app import create_app
from tests.functional.api.people import Api, build_world
from tests.functional.registry import fail_on_server_error


@pytest.fixture
def settings(request: pytest.FixtureRequest, fresh_settings: Callable[..., Settings]) -> Settings:
    """Token auth, on the backend of this run (CARGOHOLD_TEST_BACKEND)."""
    overrides = {}
    for marker in reversed(list(request.node.iter_markers("settings"))):
        overrides.update(marker.kwargs)
    return fresh_settings(**{"auth": "token", **overrides})


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://registry.test",
        event_hooks={"response": [fail_on_server_error]},
    ) as client:
        api = Api(client, app.state.context, transport)
        await build_world(api)
        yield api
    await app.state.context.close()
