"""Webhooks through the app, with token auth, on the API's world (tests/functional/api/
people.py), delivering to a real receiver on 127.0.0.1 (tests/webhook_receiver.py), which
the allowed networks let through the forgery guard.

Delivery is driven by the test (`Delivering.until`), one round of the deliverer at a time,
as the background task runs it in a server."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cargohold.config import Settings
from cargohold.services.events.webhooks.delivery import Deliverer
from cargohold.services.registry.checked.webhooks import sealing_key
from tests.functional.api.people import Api, email, world
from tests.functional.conftest import marked_settings
from tests.webhook_receiver import Receiver, receiving

LOOPBACK = ["127.0.0.0/8"]


@pytest.fixture
def settings(request: pytest.FixtureRequest, fresh_settings: Callable[..., Settings]) -> Settings:
    return marked_settings(
        request,
        fresh_settings,
        auth="token",
        public_url="https://registry.example",
        webhook_allowed_networks=LOOPBACK,
        webhook_timeout=2.0,
        webhook_retry_initial=0.1,
    )


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with world(settings) as built:
        yield built


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


@dataclass
class Delivering:
    deliverer: Deliverer

    async def until(self, done: Callable[[], Any], timeout: float = 15.0) -> None:
        """Rounds of delivery until `done()` holds."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError("delivery did not get there in time")
            await self.deliverer.run_once()
            await asyncio.sleep(0.02)

    async def rounds(self, count: int) -> None:
        for _ in range(count):
            await self.deliverer.run_once()
            await asyncio.sleep(0.02)


@pytest.fixture
def delivering(api: Api) -> Delivering:
    ctx = api.context
    return Delivering(Deliverer(ctx.db, ctx.settings, sealing_key(ctx)))


async def create(api: Api, receiver: Receiver, who: str = "owner", **body: Any) -> dict[str, Any]:
    """Register an endpoint to the receiver (or `url`) in acme; the created body."""
    fields = {"url": receiver.url, "secret": "s" * 32, "events": ["*"], **body}
    response = await api.post("/workspaces/acme/webhooks", who, json=fields)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def basic(api: Api, who: str) -> dict[str, str]:
    """Basic credentials (email and admin token) for /v2."""
    credentials = f"{email(who)}:{await api.token(who)}"
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
