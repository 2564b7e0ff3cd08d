"""Token auth through the app: every test starts from a copy of one fixture world.

The world (see world.py) is built once per run; each test copies its data directory,
so tests may push, delete, revoke and rate-limit freely. `@pytest.mark.settings(...)`
still overrides settings for one test.

With CARGOHOLD_TEST_BACKEND=postgres-s3 the world is built into a PostgreSQL database of
its own, whose rows are put back before each test (tests/backends.py: `restore_database`),
and into one key prefix of SeaweedFS that the tests share: blobs are stored by digest and
never deleted from the store, so what one test pushes cannot change what another sees.
"""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cargohold.config import Settings
from tests.backends import (
    DatabaseSnapshot,
    SeaweedFS,
    migrated_postgres,
    restore_database,
    snapshot_database,
    test_backend,
)
from tests.functional.auth import world as world_module
from tests.functional.auth.world import ID_TOKEN_LIFETIME, World
from tests.oidc.issuer import Issuer, IssuerServer

# The world's OpenID issuers are http:// servers on 127.0.0.1: let them in.
OIDC_SETTINGS: dict[str, Any] = {
    "oidc_allow_http_issuers": True,
    "oidc_allowed_networks": ["127.0.0.1/32"],
    "oidc_max_token_age": ID_TOKEN_LIFETIME,
}


@dataclass(frozen=True)
class WorldTemplate:
    data_dir: Path
    world: World
    settings: dict[str, Any] = field(default_factory=dict)  # database and store (postgres-s3)
    snapshot: DatabaseSnapshot | None = None


@pytest.fixture(scope="session")
def world_issuer(oidc_server: IssuerServer) -> Issuer:
    """The issuer whose ID tokens the world's pipelines log in with."""
    return oidc_server.issuer("world")


@pytest.fixture(scope="session")
def world_template(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, world_issuer: Issuer
) -> WorldTemplate:
    data_dir = tmp_path_factory.mktemp("auth-world") / "data"
    if test_backend() != "postgres-s3":
        settings = Settings(data_dir=data_dir, auth="token", **OIDC_SETTINGS)
        world = world_module.build(settings, world_issuer)
        return WorldTemplate(data_dir, world)
    url = migrated_postgres(request.getfixturevalue("postgres_server"), "auth_world")
    store: SeaweedFS = request.getfixturevalue("seaweedfs_server")
    place = {"database_url": url, **store.settings(prefix=f"auth-{secrets.token_hex(6)}/")}
    settings = Settings(data_dir=data_dir, auth="token", **place, **OIDC_SETTINGS)
    world = world_module.build(settings, world_issuer)
    return WorldTemplate(data_dir, world, place, snapshot_database(url))


@pytest.fixture(scope="session")
def world(world_template: WorldTemplate) -> World:
    return world_template.world


@pytest.fixture
def settings(
    tmp_path: Path, request: pytest.FixtureRequest, world_template: WorldTemplate
) -> Settings:
    overrides = {}
    for marker in reversed(list(request.node.iter_markers("settings"))):
        overrides.update(marker.kwargs)
    data_dir = tmp_path / "data"
    shutil.copytree(world_template.data_dir, data_dir)
    if world_template.snapshot is not None:
        restore_database(world_template.settings["database_url"], world_template.snapshot)
    # The world is a deployment that clients reach as http://registry.test (the test client's
    # base URL): the token realm names it.
    defaults = {"auth": "token", "public_url": "http://registry.test", **OIDC_SETTINGS}
    return Settings(data_dir=data_dir, **{**defaults, **world_template.settings, **overrides})
