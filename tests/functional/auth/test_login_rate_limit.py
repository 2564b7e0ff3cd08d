"""Password logins are limited per account and address (with back-off) and per address
(a flood limit across accounts, right passwords included); tokens are never limited.

The attempt that reaches a limit is answered as usual; the attempts after it, while the
block lasts, get 429 TOOMANYREQUESTS with Retry-After, at /token, on /v2 and in the UI
(tests/functional/ui/test_signin.py).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from tests.functional.auth.world import PASSWORD, PRIVATE, World, basic_header, email
from tests.functional.registry import Registry, error_code, fail_on_server_error

pytestmark = pytest.mark.settings(
    login_max_failures=3,
    login_block_seconds=60,
    login_block_max_seconds=120,
    login_failure_window=600,
    login_address_max_attempts=5,
)

MANIFEST = f"/v2/{PRIVATE}/manifests/v1"
WRONG = "not the password"
ANOTHER_ADDRESS = "198.51.100.99"


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


def _password(secret: str = PASSWORD, who: str = "read") -> dict[str, str]:
    """Basic credentials with a password (read@ is the one with a password)."""
    return {"Authorization": basic_header(email(who), secret)}


async def _login(client: httpx.AsyncClient, headers: dict[str, str], where: str) -> httpx.Response:
    if where == "token":
        return await client.get("/token", headers=headers)
    if where == "api":
        return await client.get("/api/v1/user", headers=headers)
    return await client.get(MANIFEST, headers={**headers, "Accept": "*/*"})


async def _fail(client: httpx.AsyncClient, where: str = "token", who: str = "read") -> None:
    response = await _login(client, _password(WRONG, who), where)
    assert response.status_code == 401, response.text


def _is_too_many(response: httpx.Response, longest: int = 60) -> int:
    assert response.status_code == 429, response.text
    assert error_code(response) == "TOOMANYREQUESTS"
    retry_after = int(response.headers["retry-after"])
    assert 0 < retry_after <= longest
    return retry_after


def _clock(registry: Registry, monkeypatch: pytest.MonkeyPatch, at: float) -> None:
    monkeypatch.setattr(registry.context, "now", lambda: at)


PASSWORD_WHERE = ["token", "v2"]
TOKEN_WHERE = ["token", "v2", "api"]


@pytest.mark.parametrize("where", PASSWORD_WHERE)
async def test_the_nth_wrong_password_is_answered_401_and_the_next_attempt_429(
    registry: Registry, where: str
) -> None:
    async with _from(registry, "10.0.0.1") as client:
        for _ in range(3):
            await _fail(client, where)
        # blocked now: even the right password waits for the block to lift
        _is_too_many(await _login(client, _password(), where))


@pytest.mark.parametrize("where", PASSWORD_WHERE)
async def test_wrong_passwords_from_one_address_leave_the_account_open_elsewhere(
    registry: Registry, where: str
) -> None:
    async with _from(registry, "10.0.0.1") as attacker:
        for _ in range(3):
            await _fail(attacker, where)
        _is_too_many(await _login(attacker, _password(), where))
    async with _from(registry, "10.0.0.2") as owner:
        assert (await _login(owner, _password(), where)).status_code == 200


async def test_someone_elses_failures_never_block_a_valid_token(
    registry: Registry, world: World
) -> None:
    for address in ("10.0.0.1", "10.0.0.2"):
        async with _from(registry, address) as attacker:
            for _ in range(3):
                await _fail(attacker)
            _is_too_many(await _login(attacker, _password(), "token"))
    # from a blocked pair's own address too: a token is not a password guess
    for address in ("10.0.0.1", "10.0.0.3"):
        async with _from(registry, address) as client:
            for where in TOKEN_WHERE:
                response = await _login(client, world.credential("read", "read").basic, where)
                assert response.status_code == 200, (address, where, response.text)


async def test_an_address_over_its_limit_is_refused_password_logins_for_every_account(
    registry: Registry,
) -> None:
    async with _from(registry, "192.0.2.7") as flood:
        for who in ("none", "write", "admin", "owner", "other"):  # one guess each
            await _fail(flood, who=who)
        # refused until the window of the address's first attempt ends
        _is_too_many(await _login(flood, _password(), "token"), longest=600)
        _is_too_many(await _login(flood, _password(), "v2"), longest=600)
    async with _from(registry, "192.0.2.8") as elsewhere:
        assert (await _login(elsewhere, _password(), "token")).status_code == 200


async def test_valid_tokens_pass_from_an_address_over_its_limit(
    registry: Registry, world: World
) -> None:
    async with _from(registry, "192.0.2.7") as flood:
        for who in ("none", "write", "admin", "owner", "other"):
            await _fail(flood, who=who)
        _is_too_many(await _login(flood, _password(), "token"), longest=600)
        for where in TOKEN_WHERE:
            response = await _login(flood, world.credential("write", "read").basic, where)
            assert response.status_code == 200, (where, response.text)


async def test_right_passwords_count_toward_the_address_limit(registry: Registry) -> None:
    async with _from(registry, "192.0.2.9") as client:
        for _ in range(5):
            assert (await _login(client, _password(), "token")).status_code == 200
        _is_too_many(await _login(client, _password(), "token"), longest=600)


@pytest.mark.settings(login_address_max_attempts=100)
async def test_each_failure_after_a_block_doubles_it_up_to_the_cap(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    _clock(registry, monkeypatch, now)
    for _ in range(3):
        await _fail(registry.client)
    blocks = [_is_too_many(await _login(registry.client, _password(), "token"), 120)]
    for _ in range(2):
        now += blocks[-1] + 1
        _clock(registry, monkeypatch, now)
        await _fail(registry.client)  # one more guess once the block lifts
        blocks.append(_is_too_many(await _login(registry.client, _password(), "token"), 120))
    assert blocks == [60, 120, 120]


async def test_the_block_lifts_after_its_time(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        await _fail(registry.client)
    _is_too_many(await _login(registry.client, _password(), "token"))

    _clock(registry, monkeypatch, time.time() + 61)
    assert (await _login(registry.client, _password(), "token")).status_code == 200


@pytest.mark.settings(login_address_max_attempts=100)
async def test_a_right_password_clears_the_count_of_its_account_and_address(
    registry: Registry,
) -> None:
    for _ in range(3):
        for _ in range(2):
            await _fail(registry.client)
        assert (await _login(registry.client, _password(), "token")).status_code == 200


async def test_failures_outside_the_window_are_forgotten(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(2):
        await _fail(registry.client)
    _clock(registry, monkeypatch, time.time() + 601)
    for _ in range(2):
        await _fail(registry.client)
    assert (await _login(registry.client, _password(), "token")).status_code == 200


async def test_the_password_grant_is_limited_too(registry: Registry) -> None:
    form = {"grant_type": "password", "username": email("read"), "password": WRONG}
    for _ in range(3):
        assert (await registry.client.post("/token", data=form)).status_code == 401
    response = await registry.client.post("/token", data={**form, "password": PASSWORD})
    _is_too_many(response)
    assert response.json()["error"] == "slow_down"


@pytest.mark.parametrize("where", TOKEN_WHERE)
async def test_wrong_tokens_are_answered_401_and_never_blocked(
    registry: Registry, world: World, where: str
) -> None:
    credential = world.credential("read", "read")
    wrong = {"Authorization": basic_header(credential.username, credential.secret[:-3] + "xyz")}
    for _ in range(12):  # beyond every limit
        assert (await _login(registry.client, wrong, where)).status_code == 401
    assert (await _login(registry.client, credential.basic, where)).status_code == 200
    # nor do they count against password logins
    assert (await _login(registry.client, _password(), "token")).status_code == 200


async def test_an_ipv6_64_network_counts_as_one_address(registry: Registry) -> None:
    for host in ("2001:db8::1", "2001:db8::2", "2001:db8::3"):
        async with _from(registry, host) as client:
            await _fail(client)
    async with _from(registry, "2001:db8::ffff:4") as client:
        _is_too_many(await _login(client, _password(), "token"))
    async with _from(registry, "2001:db8:0:1::1") as client:
        assert (await _login(client, _password(), "token")).status_code == 200
