"""The management API in-process, with token auth, on a fresh data dir per test.

Every test starts from the same small world, made through the services (see
`people.py`); `api.headers("owner")` are the headers of owner@'s admin:package
token, `api.headers("reader", "read:package")` of a narrower one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from cargohold.config import Settings
from tests.functional.api.people import Api, world
from tests.functional.conftest import marked_settings


@pytest.fixture
def settings(request: pytest.FixtureRequest, fresh_settings: Callable[..., Settings]) -> Settings:
    """Token auth, on the backend of this run (CARGOHOLD_TEST_BACKEND)."""
    return marked_settings(request, fresh_settings, auth="token")


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with world(settings) as built:
        yield built
