"""The app in-process over httpx's ASGI transport, on a fresh data dir per test.

Settings can be changed for one test with `@pytest.mark.settings(max_blob_size=100)`.
Any 5xx answer fails the test at once: no input may make the registry fall over.

With CARGOHOLD_TEST_BACKEND=postgres-s3 the same tests run on PostgreSQL (one database
per run, emptied before each test) and SeaweedFS (a fresh key prefix per test).
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cargohold.config import Settings
from cargohold.services.context import Context, open_context
from cargohold.web.app import create_app
from tests.backends import SeaweedFS, empty_database, migrated_postgres, test_backend
from tests.functional.registry import Registry, fail_on_server_error
from tests.oidc.issuer import Issuer, IssuerServer, issuer_server


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "settings(**overrides): Settings fields to override for this test"
    )


@pytest.fixture(scope="session")
def oidc_server() -> Iterator[IssuerServer]:
    """The HTTP server of the tests' OpenID issuers (127.0.0.1), for the whole run."""
    with issuer_server() as server:
        yield server


@pytest.fixture
def issuer(oidc_server: IssuerServer) -> Issuer:
    """A new issuer of this test alone, with one published RS256 key `main`."""
    return oidc_server.issuer()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite database migrated once per run; each test starts from a copy of it."""
    context = open_context(Settings(data_dir=tmp_path_factory.mktemp("template"), auth="none"))
    asyncio.run(context.db.close())
    return context.settings.sqlite_path


@pytest.fixture(scope="session")
def postgres_database(request: pytest.FixtureRequest) -> str:
    """A PostgreSQL database of this run, migrated once; emptied before each test."""
    return migrated_postgres(request.getfixturevalue("postgres_server"), "functional")


@pytest.fixture
def fresh_settings(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., Settings]:
    """`fresh_settings(**fields)`: settings on an empty, migrated database and an empty
    store, in the configuration this run tests (CARGOHOLD_TEST_BACKEND)."""

    def make(**fields: Any) -> Settings:
        if test_backend() == "postgres-s3":
            url: str = request.getfixturevalue("postgres_database")
            empty_database(url)
            store: SeaweedFS = request.getfixturevalue("seaweedfs_server")
            place = store.settings(prefix=f"test-{secrets.token_hex(6)}/")
            return Settings(data_dir=tmp_path / "data", database_url=url, **{**place, **fields})
        template: Path = request.getfixturevalue("migrated_database")
        settings = Settings(data_dir=tmp_path / "data", **fields)
        settings.sqlite_path.parent.mkdir(parents=True)
        shutil.copyfile(template, settings.sqlite_path)
        return settings

    return make


def marked_settings(
    request: pytest.FixtureRequest, fresh_settings: Callable[..., Settings], **defaults: Any
) -> Settings:
    """Fresh settings: `defaults`, then the test's `settings` markers (the nearest wins)."""
    overrides = dict(defaults)
    for marker in reversed(list(request.node.iter_markers("settings"))):
        overrides.update(marker.kwargs)
    return fresh_settings(**overrides)


@pytest.fixture
def settings(request: pytest.FixtureRequest, fresh_settings: Callable[..., Settings]) -> Settings:
    return marked_settings(request, fresh_settings, auth="none")


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
    await app.state.context.close()


@pytest.fixture
def context(registry: Registry) -> Context:
    return registry.context
