"""Token auth through the app: every test starts from a copy of one fixture world.

The world (see world.py) is built once per run; each test copies its data directory,
so tests may push, delete, revoke and rate-limit freely. `@pytest.mark.settings(...)`
still overrides settings for one test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cargohold.config import Settings
from tests.functional.auth import world as world_module
from tests.functional.auth.world import World


@pytest.fixture(scope="session")
def world_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World]:
    data_dir = tmp_path_factory.mktemp("auth-world") / "data"
    return data_dir, world_module.build(data_dir)


@pytest.fixture(scope="session")
def world(world_template: tuple[Path, World]) -> World:
    return world_template[1]


@pytest.fixture
def settings(
    tmp_path: Path, request: pytest.FixtureRequest, world_template: tuple[Path, World]
) -> Settings:
    overrides = {}
    for marker in reversed(list(request.node.iter_markers("settings"))):
        overrides.update(marker.kwargs)
    data_dir = tmp_path / "data"
    shutil.copytree(world_template[0], data_dir)
    return Settings(data_dir=data_dir, **{"auth": "token", **overrides})
