"""A database at an earlier schema revision, with people, tokens and packages in it,
upgrades to the newest one (`cargohold db upgrade`) and keeps working: what was there
still logs in and pulls, and what the newer revisions add (sessions, the audit log,
download counts) works on it.

The earlier database is filled with the SQL of its own schema, not through the services:
they write what the newest schema has (every change records an event, revision 0007)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from pathlib import Path

import httpx
import pytest

from cargohold.config import Settings
from cargohold.metadata import migrate, revision
from cargohold.metadata.db import Database, SQLiteDatabase
from cargohold.services.accounts import directory, invitations
from cargohold.services.events import downloads
from cargohold.web.app import create_app
from tests import backends
from tests.backends import PostgresServer, SeaweedFS
from tests.functional.registry import fail_on_server_error

# Before sessions (0005), upload openers (0006) and events (0007); and the one before events.
PREVIOUS = ("0004", "0006")
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


_USER = "(SELECT id FROM users WHERE email = 'owner@example.com')"
_WORKSPACE = "(SELECT id FROM workspaces WHERE slug = 'acme')"
_ROWS = [
    "INSERT INTO users (email, display_name, password_hash, is_admin, created_at)"
    " VALUES ('owner@example.com', 'owner', :password, :false, :now)",
    "INSERT INTO workspaces (slug, name, create_on_push, created_at)"
    " VALUES ('acme', 'acme', :false, :now)",
    "INSERT INTO workspace_members (workspace_id, user_id, is_owner)"
    f" VALUES ({_WORKSPACE}, {_USER}, :true)",
    f"INSERT INTO projects (workspace_id, key, name, created_at) VALUES ({_WORKSPACE},"
    " 'PLAT', 'PLAT', :now)",
    "INSERT INTO repositories (workspace_id, project_id, slug, is_public, created_at)"
    f" SELECT {_WORKSPACE}, id, 'web', :false, :now FROM projects WHERE key = 'PLAT'",
    "INSERT INTO packages (name, created_at) VALUES ('acme/web', :now)",
    "INSERT INTO package_links (package_id, repository_id) SELECT p.id, r.id"
    " FROM packages p, repositories r WHERE p.name = 'acme/web' AND r.slug = 'web'",
    "INSERT INTO tokens (id, kind, user_id, name, secret_hash, scopes, expires_at, created_at)"
    f" VALUES ('laptop000001', 'personal', {_USER}, 'laptop', :hash, 'admin:package',"
    " :expires, :now)",
]


async def _fill(settings: Settings) -> str:
    """A person who owns workspace acme, its repository and package acme/web, and an API
    token, written with the SQL of the earlier schema; returns the token."""
    secret = secrets.token_urlsafe(32)
    values = {
        "password": directory.hash_password(PASSWORD),
        "hash": hashlib.sha256(secret.encode()).hexdigest(),
        "expires": NOW + 365 * 86400,
        "now": NOW,
        "true": True,
        "false": False,
    }
    db = _database(settings)
    try:
        async with db.transaction() as tx:
            for sql in _ROWS:
                await tx.execute(sql, {k: v for k, v in values.items() if f":{k}" in sql})
        return f"chp_laptop000001_{secret}"
    finally:
        await db.close()


def _basic(username: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()}


@pytest.mark.parametrize("previous", PREVIOUS)
async def test_a_database_of_an_earlier_revision_upgrades_and_keeps_working(
    tmp_path: Path, request: pytest.FixtureRequest, previous: str
) -> None:
    settings, url = _settings(tmp_path, request)
    migrate.upgrade(url, previous)
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

        # changes are recorded, and the owner reads them in the audit log
        bearer = {"Authorization": f"Bearer {token}"}
        project = await client.post(
            "/api/v1/workspaces/acme/projects", json={"key": "OPS"}, headers=bearer
        )
        assert project.status_code == 201, project.text
        log = await client.get("/api/v1/workspaces/acme/audit", headers=bearer)
        assert [item["action"] for item in log.json()["items"]] == ["project.created"]

        # pulls are counted
        ctx = app.state.context
        ctx.downloads.count("acme/web", "v1", ctx.now())
        await downloads.flush(ctx.db, ctx.downloads)
        package = await client.get("/api/v1/packages/acme/web", headers=bearer)
        assert package.json()["downloads"] == 1

        # an account made before the upgrade gets an invitation (revision 0012) and uses it
        async with ctx.db.transaction() as tx:
            owner = await directory.find_user(tx, "owner@example.com")
            _, code = await invitations.invite(tx, user=owner, created_by=None, now=ctx.now())
        async with ctx.db.transaction() as tx:
            hashed = directory.hash_password("a newer password")
            await invitations.accept(tx, code, password_hash=hashed, now=ctx.now())
    await app.state.context.close()
