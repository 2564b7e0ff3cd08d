"""The app in-process over httpx's ASGI transport, on a fresh data dir per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cargohold.config import Settings
from cargohold.services.context import Context
from cargohold.web.app import create_app
from tests.functional.registry import Registry


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
async def registry(settings: Settings) -> AsyncIterator[Registry]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as client:
        yield Registry(client, app.state.context)
    await app.state.context.db.close()


@pytest.fixture
def context(registry: Registry) -> Context:
    return registry.context
