"""The app in-process over httpx's ASGI transport, on a fresh data dir per test.

Settings can be changed for one test with `@pytest.mark.settings(max_blob_size=100)`.
Any 5xx answer fails the test at once: no input may make the registry fall over.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cargohold.config import Settings
from cargohold.services.context import Context, open_context
from cargohold.web.app import create_app
from tests.functional.registry import Registry, fail_on_server_error


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "settings(**overrides): Settings fields to override for this test"
    )


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database migrated once per run; each test starts from a copy of it."""
    context = open_context(Settings(data_dir=tmp_path_factory.mktemp("template"), auth="none"))
    asyncio.run(context.db.close())
    return context.settings.sqlite_path


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest, migrated_database: Path) -> Settings:
    overrides = {}
    for marker in reversed(list(request.node.iter_markers("settings"))):
        overrides.update(marker.kwargs)
    settings = Settings(data_dir=tmp_path / "data", **{"auth": "none", **overrides})
    settings.sqlite_path.parent.mkdir(parents=True)
    shutil.copyfile(migrated_database, settings.sqlite_path)
    return settings


@pytest.fixture
async def registry(settings: Settings) -> AsyncIterator[Registry]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://registry.test",
        event_hooks={"response": [fail_on_server_error]},
    ) as client:
        yield Registry(client, app.state.context, app)
    await app.state.context.db.close()


@pytest.fixture
def context(registry: Registry) -> Context:
    return registry.context
