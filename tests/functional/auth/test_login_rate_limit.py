"""Failed logins are counted per account and per client address: slowed, then refused with
429 TOOMANYREQUESTS and Retry-After, at /token and for Basic credentials on /v2."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from tests.functional.auth.world import PRIVATE, Credential, World, basic_header
from tests.functional.registry import Registry, error_code, fail_on_server_error

pytestmark = pytest.mark.settings(
    login_max_failures=3, login_block_seconds=60, login_failure_window=600
)

MANIFEST = f"/v2/{PRIVATE}/manifests/v1"


@asynccontextmanager
async def _from(registry: Registry, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from `address`."""
    assert registry.app is not None
    transport = httpx.ASGITransport(app=registry.app, client=(address, 40000))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://registry.test",
        event_hooks={"response": [fail_on_server_error]},
    ) as client:
        yield client


def _wrong(credential: Credential) -> dict[str, str]:
    return {"Authorization": basic_header(credential.username, credential.secret[:-3] + "xyz")}


async def _login(client: httpx.AsyncClient, headers: dict[str, str], where: str) -> httpx.Response:
    if where == "token":
        return await client.get("/token", headers=headers)
    return await client.get(MANIFEST, headers={**headers, "Accept": "*/*"})


def _is_too_many(response: httpx.Response, longest: int = 60) -> None:
    assert response.status_code == 429, response.text
    assert error_code(response) == "TOOMANYREQUESTS"
    assert 0 < int(response.headers["retry-after"]) <= longest


WHERE = ["token", "v2"]


@pytest.mark.parametrize("where", WHERE)
async def test_one_account_is_slowed_then_refused(
    registry: Registry, world: World, where: str
) -> None:
    credential = world.credential("read", "read")
    elapsed = []
    for attempt in (1, 2):
        # each failure comes from its own address: only the account's count grows
        async with _from(registry, f"10.0.0.{attempt}") as client:
            started = time.monotonic()
            response = await _login(client, _wrong(credential), where)
            elapsed.append(time.monotonic() - started)
            assert response.status_code == 401, response.text
    assert elapsed[0] >= 0.05 and elapsed[1] >= 0.1, f"failures are not slowed: {elapsed}"

    async with _from(registry, "10.0.0.3") as client:
        _is_too_many(await _login(client, _wrong(credential), where))
    # while blocked, even the right token is refused, from anywhere
    async with _from(registry, "10.0.0.4") as client:
        _is_too_many(await _login(client, credential.basic, where))
        # other accounts are not affected
        other = world.credential("write", "read")
        assert (await _login(client, other.basic, where)).status_code == 200


@pytest.mark.parametrize("where", WHERE)
async def test_one_address_is_refused_across_accounts(
    registry: Registry, world: World, where: str
) -> None:
    async with _from(registry, "192.0.2.7") as client:
        for who in ("none", "read"):
            response = await _login(client, _wrong(world.credential(who, "read")), where)
            assert response.status_code == 401, response.text
        _is_too_many(await _login(client, _wrong(world.credential("write", "read")), where))
        # an account that never failed is refused from this address too
        _is_too_many(await _login(client, world.credential("admin", "read").basic, where))
    async with _from(registry, "192.0.2.8") as client:
        assert (await _login(client, world.credential("admin", "read").basic, where)).is_success


async def test_the_block_lifts_after_its_time(
    registry: Registry, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = world.credential("read", "read")
    for _ in range(3):
        await _login(registry.client, _wrong(credential), "token")
    _is_too_many(await _login(registry.client, credential.basic, "token"))

    later = time.time() + 61
    monkeypatch.setattr(registry.context, "now", lambda: later)
    assert (await _login(registry.client, credential.basic, "token")).status_code == 200


async def test_a_success_clears_the_accounts_count(registry: Registry, world: World) -> None:
    credential = world.credential("read", "read")
    for round_ in range(3):
        for attempt in range(2):
            async with _from(registry, f"198.51.100.{10 * round_ + attempt}") as client:
                assert (await _login(client, _wrong(credential), "token")).status_code == 401
        async with _from(registry, f"198.51.100.{10 * round_ + 9}") as client:
            assert (await _login(client, credential.basic, "token")).status_code == 200


async def test_failures_outside_the_window_are_forgotten(
    registry: Registry, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = world.credential("read", "read")
    for _ in range(2):
        assert (await _login(registry.client, _wrong(credential), "token")).status_code == 401
    later = time.time() + 601
    monkeypatch.setattr(registry.context, "now", lambda: later)
    for _ in range(2):
        assert (await _login(registry.client, _wrong(credential), "token")).status_code == 401
    _is_too_many(await _login(registry.client, _wrong(credential), "token"))


async def test_password_grant_is_limited_too(registry: Registry, world: World) -> None:
    form = {"grant_type": "password", "username": world.credential("read", "read").username}
    for _ in range(2):
        response = await registry.client.post("/token", data={**form, "password": "wrong!!!"})
        assert response.status_code == 401
    response = await registry.client.post("/token", data={**form, "password": "wrong!!!"})
    _is_too_many(response)
    assert response.json()["error"] == "slow_down"
