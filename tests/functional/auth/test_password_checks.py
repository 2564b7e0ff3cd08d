"""Password checks (argon2) run in threads, a few at a time, never on the event loop, and
cost one verification whether or not the email has an account with a password."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import argon2
import httpx
import pytest

from cargohold.services.accounts import directory
from tests.functional.auth.world import PASSWORD, basic_header, email
from tests.functional.registry import Registry

HELD = 5.0  # seconds a held check waits at most (a check on the loop would stall it this long)


@dataclass
class HeldChecks:
    """`directory.password_matches`, held in its thread until `release` is set."""

    release: threading.Event = field(default_factory=threading.Event)
    running: int = 0
    most: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, real: Callable[[str | None, str], bool]) -> Callable[[str | None, str], bool]:
        def held(password_hash: str | None, password: str) -> bool:
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
            try:
                self.release.wait(HELD)
                return real(password_hash, password)
            finally:
                with self.lock:
                    self.running -= 1

        return held


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldChecks]:
    checks = HeldChecks()
    monkeypatch.setattr(directory, "password_matches", checks.wrap(directory.password_matches))
    try:
        yield checks
    finally:
        checks.release.set()


async def _until(condition: Callable[[], bool], within: float = HELD / 2) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the password checks did not start"
        await asyncio.sleep(0.01)


def _password() -> dict[str, str]:
    return {"Authorization": basic_header(email("read"), PASSWORD)}


def _logins(registry: Registry, count: int) -> list[asyncio.Task[httpx.Response]]:
    return [
        asyncio.create_task(registry.client.get("/token", headers=_password()))
        for _ in range(count)
    ]


@pytest.mark.settings(password_check_threads=2)
async def test_the_event_loop_answers_while_passwords_are_being_checked(
    registry: Registry, held: HeldChecks
) -> None:
    logins = _logins(registry, 6)
    await _until(lambda: held.running == 2)
    started = time.monotonic()
    response = await registry.client.get("/v2/")
    elapsed = time.monotonic() - started
    assert held.running == 2, "the checks ended before the cheap request was answered"
    assert response.status_code == 401
    assert elapsed < HELD / 10, f"GET /v2/ took {elapsed:.2f} s while passwords were checked"
    held.release.set()
    assert [r.status_code for r in await asyncio.gather(*logins)] == [200] * 6


@pytest.mark.settings(password_check_threads=2)
async def test_no_more_than_password_check_threads_checks_run_at_once(
    registry: Registry, held: HeldChecks
) -> None:
    logins = _logins(registry, 6)
    await _until(lambda: held.running == 2)
    await asyncio.sleep(0.2)  # room for a third to start, were it allowed to
    held.release.set()
    assert [r.status_code for r in await asyncio.gather(*logins)] == [200] * 6
    assert held.most == 2


@pytest.mark.settings(password_check_threads=2, password_check_queue=0)
async def test_a_password_login_beyond_the_queue_is_refused_at_once_with_503(
    registry: Registry, held: HeldChecks
) -> None:
    logins = _logins(registry, 2)
    await _until(lambda: held.running == 2)
    assert registry.app is not None
    transport = httpx.ASGITransport(app=registry.app)  # a client that expects a 503
    async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as client:
        started = time.monotonic()
        refused = await client.get("/token", headers=_password())
    assert time.monotonic() - started < HELD / 10
    assert refused.status_code == 503, refused.text
    assert int(refused.headers["retry-after"]) >= 1
    held.release.set()
    assert [r.status_code for r in await asyncio.gather(*logins)] == [200] * 2


@pytest.mark.parametrize(
    ("who", "password", "status"),
    [
        ("read", PASSWORD, 200),  # right password
        ("read", "not the password", 401),  # wrong password
        ("nobody", PASSWORD, 401),  # no such account
        ("none", PASSWORD, 401),  # an account without a password
    ],
)
async def test_every_password_login_costs_one_argon2_verification_with_the_same_parameters(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, who: str, password: str, status: int
) -> None:
    stored = await registry.context.db.fetchone(
        "SELECT password_hash FROM users WHERE email = :e", {"e": email("read")}
    )
    assert stored is not None
    verified: list[argon2.Parameters] = []
    real = argon2.PasswordHasher.verify

    def counted(self: argon2.PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        verified.append(argon2.extract_parameters(str(hash)))
        return real(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", counted)
    headers = {"Authorization": basic_header(email(who), password)}
    assert (await registry.client.get("/token", headers=headers)).status_code == status
    assert verified == [argon2.extract_parameters(stored["password_hash"])]
