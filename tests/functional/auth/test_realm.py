"""The token realm of a challenge names the registry as configured (`public_url`), never a
host a client made up; without a public URL only a loopback Host is taken at its word."""

from __future__ import annotations

import pytest

from tests.functional.auth.world import challenge
from tests.functional.registry import Registry


async def realm(registry: Registry, **headers: str) -> str:
    response = await registry.client.get("/v2/", headers=headers)
    assert response.status_code == 401
    return challenge(response.headers["www-authenticate"])["realm"]


@pytest.mark.settings(public_url="https://registry.example.com")
async def test_the_realm_is_the_public_url_whatever_host_the_client_names(
    registry: Registry,
) -> None:
    assert await realm(registry) == "https://registry.example.com/token"
    assert await realm(registry, host="evil.example") == "https://registry.example.com/token"
    assert await realm(registry, host="127.0.0.1:5000") == "https://registry.example.com/token"


@pytest.mark.settings(public_url="https://registry.example.com", trust_proxy_headers=True)
async def test_forwarded_headers_do_not_move_the_realm_off_the_public_url(
    registry: Registry,
) -> None:
    forwarded = {"x-forwarded-host": "evil.example", "x-forwarded-proto": "http"}

    assert await realm(registry, **forwarded) == "https://registry.example.com/token"


@pytest.mark.settings(public_url=None)
@pytest.mark.parametrize("host", ["localhost:5000", "127.0.0.1:5000", "[::1]:5000"])
async def test_without_a_public_url_the_realm_follows_a_loopback_host(
    registry: Registry, host: str
) -> None:
    assert await realm(registry, host=host) == f"http://{host}/token"


@pytest.mark.settings(public_url=None, host="127.0.0.1", port=5123)
async def test_without_a_public_url_another_host_gets_the_servers_own_address(
    registry: Registry,
) -> None:
    assert await realm(registry, host="evil.example") == "http://127.0.0.1:5123/token"
