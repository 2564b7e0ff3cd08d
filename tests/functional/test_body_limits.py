"""Request bodies are bounded before any route runs, except a blob upload's: a declared
Content-Length over the limit is refused unread and unauthenticated, a chunked body is cut
off where it passes the limit, and each surface says so in its own error format."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cargohold.config import KiB, MiB
from tests.functional.registry import Registry, digest_of, error_code, random_blob

HUGE = 200 * MiB
CHUNK = 64 * KiB


class Body:
    """A request body of `size` bytes made on demand, which counts what was read of it."""

    def __init__(self, size: int = HUGE) -> None:
        self.size = size
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.read < self.size:
            self.read += CHUNK
            yield b"a" * CHUNK

    def declared(self) -> dict[str, str]:
        return {"Content-Length": str(self.size)}


@pytest.mark.settings(auth="token")
async def test_a_token_form_over_the_limit_is_413_unread(registry: Registry) -> None:
    body = Body()

    response = await registry.client.post(
        "/token",
        content=body,
        headers={**body.declared(), "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 413
    assert error_code(response) == "SIZE_INVALID"
    assert response.json()["error"] == "invalid_request"
    assert str(64 * KiB) in response.json()["error_description"]
    assert body.read == 0


@pytest.mark.settings(auth="token")
async def test_a_chunked_token_form_is_cut_off_where_it_passes_the_limit(
    registry: Registry,
) -> None:
    body = Body()

    response = await registry.client.post(
        "/token", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )

    assert response.status_code == 413
    assert error_code(response) == "SIZE_INVALID"
    assert body.read <= 2 * CHUNK


@pytest.mark.settings(auth="token", max_manifest_size=4096)
async def test_a_manifest_over_the_limit_is_413_before_authentication(
    registry: Registry,
) -> None:
    body = Body(8192)

    response = await registry.client.put(
        "/v2/acme/web/manifests/v1", content=body, headers=body.declared()
    )

    assert response.status_code == 413
    assert error_code(response) == "SIZE_INVALID"
    assert response.json()["errors"][0]["detail"] == {"limit": 4096}
    assert body.read == 0


@pytest.mark.settings(max_manifest_size=4096)
async def test_a_chunked_manifest_over_the_limit_is_413_size_invalid(registry: Registry) -> None:
    response = await registry.client.put("/v2/acme/web/manifests/v1", content=Body(8192))

    assert response.status_code == 413
    assert error_code(response) == "SIZE_INVALID"
    assert "manifest" in response.json()["errors"][0]["message"]


async def test_a_body_on_a_registry_request_that_takes_none_is_bounded(registry: Registry) -> None:
    body = Body()

    response = await registry.client.request(
        "DELETE", "/v2/acme/web/blobs/" + digest_of(b"x"), content=body, headers=body.declared()
    )

    assert response.status_code == 413
    assert error_code(response) == "SIZE_INVALID"
    assert body.read == 0


@pytest.mark.settings(max_form_size=1024, max_api_body_size=1024)
async def test_blob_uploads_are_not_bounded_by_the_body_limits(registry: Registry) -> None:
    data = random_blob(300 * KiB)

    monolithic = await registry.client.post(
        f"/v2/acme/web/blobs/uploads/?digest={digest_of(data)}", content=data
    )
    start = await registry.client.post("/v2/acme/web/blobs/uploads/")
    location = start.headers["location"]
    patched = await registry.client.patch(location, content=data)
    finished = await registry.client.put(
        f"{location}?digest={digest_of(data + data)}", content=data
    )

    assert monolithic.status_code == 201
    assert patched.status_code == 202
    assert finished.status_code == 201


@pytest.mark.settings(auth="token")
async def test_an_api_body_over_the_limit_is_413_problem_json_unread(registry: Registry) -> None:
    body = Body()

    response = await registry.client.post(
        "/api/v1/workspaces",
        content=body,
        headers={**body.declared(), "Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 413
    assert str(MiB) in response.json()["detail"]
    assert body.read == 0


@pytest.mark.settings(auth="token", max_api_body_size=4096)
async def test_a_chunked_api_body_over_the_limit_is_413_problem_json(registry: Registry) -> None:
    body = Body()

    response = await registry.client.post(
        "/api/v1/workspaces", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert "4096" in response.json()["detail"]
    assert body.read <= 2 * CHUNK


@pytest.mark.settings(auth="token")
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_sign_in_form_over_the_limit_is_a_413_page(
    registry: Registry, declared: bool
) -> None:
    body = Body()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}

    response = await registry.client.post(
        "/sign-in", content=body, headers={**headers, **(body.declared() if declared else {})}
    )

    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert "content-security-policy" in response.headers
    assert body.read <= (0 if declared else 2 * CHUNK)
