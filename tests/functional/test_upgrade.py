"""A database at the previous schema revision, with people, tokens and packages in it,
upgrades to the newest one (`cargohold db upgrade`) and keeps working: what was there
still logs in and pulls, and what the new revision adds (sessions) works on it."""

from __future__ import annotations

import base64
import re
import secrets
from pathlib import Path

import httpx
import pytest

from cargohold.config import Settings
from cargohold.metadata import migrate, revision
from cargohold.metadata.db import Database, SQLiteDatabase
from cargohold.services.accounts import directory, tokens
from cargohold.services.registry import packages
from cargohold.web.app import create_app
from tests import backends
from tests.backends import PostgresServer, SeaweedFS
from tests.functional.registry import fail_on_server_error

PREVIOUS = "0004"
PASSWORD = "correct horse battery staple"
NOW = 1_800_000_000.0


def _settings(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Settings, str]:
    """Settings on an empty database of this run's backend, and the database's URL."""
    if backends.test_backend() == "postgres-s3":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        store: SeaweedFS = request.getfixturevalue("seaweedfs_server")
        url = server.create_database("upgrade")
        place = store.settings(prefix=f"upgrade-{secrets.token_hex(6)}/")
        return Settings(data_dir=tmp_path / "data", database_url=url, **place), url
    settings = Settings(data_dir=tmp_path / "data")
    settings.sqlite_path.parent.mkdir(parents=True)
    return settings, migrate.sqlite_url(settings.sqlite_path)


def _database(settings: Settings) -> Database:
    if settings.database_url is not None:
        from cargohold.metadata.postgres import PostgresDatabase

        return PostgresDatabase(settings.database_url)
    return SQLiteDatabase(settings.sqlite_path)


async def _fill(settings: Settings) -> str:
    """People, a workspace, a repository, a package and an API token, written at the
    previous revision; returns the token."""
    db = _database(settings)
    try:
        async with db.transaction() as tx:
            owner = await directory.create_user(
                tx, email="owner@example.com", password=PASSWORD, now=NOW
            )
            await directory.create_workspace(tx, slug="acme", owner=owner, now=NOW)
            await directory.create_project(tx, workspace="acme", key="PLAT", now=NOW)
            web = await directory.create_repository(
                tx, full_name="acme/web", project_key="PLAT", now=NOW
            )
            await packages.create_package(tx, name="acme/web", repository=web, now=NOW)
            _, secret = await tokens.create_token(
                tx,
                kind="personal",
                name="laptop",
                scopes=["admin:package"],
                expires_at=NOW + 365 * 86400,
                now=NOW,
                user_id=owner.id,
            )
        return secret
    finally:
        await db.close()


def _basic(username: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()}


async def test_a_database_of_the_previous_revision_upgrades_and_keeps_working(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings, url = _settings(tmp_path, request)
    migrate.upgrade(url, PREVIOUS)
    token = await _fill(settings)
    migrate.upgrade(url)
    assert migrate.current_revision(url) == revision.HEAD

    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://registry.test",
        event_hooks={"response": [fail_on_server_error]},
    ) as client:
        # the token made before the upgrade still works, for /v2 and the API
        tags = await client.get(
            "/v2/acme/web/tags/list", headers=_basic("owner@example.com", token)
        )
        assert tags.status_code == 200, tags.text
        api = await client.get("/api/v1/user/tokens", headers={"Authorization": f"Bearer {token}"})
        assert [item["name"] for item in api.json()["items"]] == ["laptop"]

        # a password login makes a refresh token, a row of the new table
        login = await client.post(
            "/token",
            data={
                "grant_type": "password",
                "username": "owner@example.com",
                "password": PASSWORD,
                "access_type": "offline",
            },
        )
        assert login.status_code == 200, login.text
        refreshed = await client.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": login.json()["refresh_token"]},
        )
        assert refreshed.status_code == 200, refreshed.text

        # the UI signs in and out
        form = await client.get("/sign-in")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf
        signed_in = await client.post(
            "/sign-in",
            data={"email": "owner@example.com", "password": PASSWORD, "csrf": csrf[1]},
        )
        assert signed_in.status_code == 303
        page = await client.get("/settings/tokens")
        assert page.status_code == 200 and "Web session" in page.text
    await app.state.context.close()
