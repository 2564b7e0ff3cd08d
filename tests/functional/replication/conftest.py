"""Replication through the app, with token auth, on the API's world (tests/functional/api/
people.py), copying to real registries on 127.0.0.1 (tests/remote_registries.py), which the
allowed networks let through the forgery guard.

Copying is driven by the test (`Replicating.until`), one round of the replicator at a time,
as the background task runs it in a server, on a clock the test moves on to make a
back-off due."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cargohold.config import Settings
from cargohold.services.registry.replication.replicator import Replicator
from cargohold.services.registry.replication.rules import sealing_key
from tests.functional.api.people import Api, world
from tests.functional.conftest import marked_settings
from tests.remote_registries import Distribution, distribution

LOOPBACK = ["127.0.0.0/8"]


@pytest.fixture
def settings(request: pytest.FixtureRequest, fresh_settings: Callable[..., Settings]) -> Settings:
    return marked_settings(
        request,
        fresh_settings,
        auth="token",
        public_url="https://registry.example",
        replication_allowed_networks=LOOPBACK,
        replication_timeout=10.0,
        replication_retry_initial=30.0,
    )


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with world(settings) as built:
        yield built


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Distribution]:
    with distribution(tmp_path / "remote") as server:
        yield server


class Clock:
    """The replicator's time: real time plus what the test moved it on by."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Replicating:
    replicator: Replicator
    clock: Clock

    async def until(self, done: Callable[[], Any], timeout: float = 30.0) -> None:
        """Rounds of replication until `await done()` holds."""
        deadline = time.monotonic() + timeout
        while not await done():
            if time.monotonic() > deadline:
                raise AssertionError("replication did not get there in time")
            await self.replicator.run_once()
            await asyncio.sleep(0.02)

    async def rounds(self, count: int) -> None:
        for _ in range(count):
            await self.replicator.run_once()
            await asyncio.sleep(0.02)


@pytest.fixture
def replicating(api: Api) -> Replicating:
    ctx = api.context
    clock = Clock()
    return Replicating(
        Replicator(ctx.db, ctx.storage, ctx.settings, sealing_key(ctx), clock), clock
    )


async def create(api: Api, who: str = "owner", **body: Any) -> dict[str, Any]:
    """Make a replication rule of acme; the created body."""
    response = await api.post("/workspaces/acme/replications", who, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def jobs(api: Api, rule: int) -> list[dict[str, Any]]:
    response = await api.get(f"/workspaces/acme/replications/{rule}/jobs", "owner")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["items"]
    return found
