"""The API root (end-1), the version header, and what unknown routes and methods get."""

from __future__ import annotations

import pytest

from cargohold.services.registry import manifests
from tests.functional.registry import Registry, error_code, random_blob

API_VERSION = "registry/2.0"


async def test_end_1_get_v2_answers_200(registry: Registry) -> None:
    response = await registry.client.get("/v2/")
    assert response.status_code == 200
    assert response.json() == {}
    assert response.headers["docker-distribution-api-version"] == API_VERSION


async def test_end_1_v2_without_trailing_slash_answers_200(registry: Registry) -> None:
    response = await registry.client.get("/v2")
    assert response.status_code == 200
    assert response.headers["docker-distribution-api-version"] == API_VERSION


async def test_end_1_head_v2_answers_200(registry: Registry) -> None:
    response = await registry.client.head("/v2/")
    assert response.status_code == 200
    assert response.headers["docker-distribution-api-version"] == API_VERSION


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/acme/web/manifests/v1"),
        ("GET", "/v2/acme/web/tags/list"),
        ("GET", "/v2/acme/web/nonsense"),
        ("GET", "/v2/_catalog"),
        ("DELETE", "/v2/_catalog"),
        ("POST", "/v2/acme/web/blobs/uploads/"),
        ("GET", "/v2/Bad/manifests/v1"),
    ],
)
async def test_every_v2_response_carries_the_api_version_header(
    registry: Registry, method: str, path: str
) -> None:
    response = await registry.client.request(method, path)
    assert response.headers["docker-distribution-api-version"] == API_VERSION


@pytest.mark.parametrize(
    "path",
    ["/v2/acme/web/nonsense", "/v2/acme/web/blobs", "/v2/acme/web/manifests/", "/v2/acme"],
)
async def test_unknown_route_under_v2_is_404_with_an_error_body(
    registry: Registry, path: str
) -> None:
    response = await registry.client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert error_code(response) == "UNSUPPORTED"
    assert path.removeprefix("/v2/") in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v2/acme/web/tags/list", "GET"),
        ("POST", "/v2/acme/web/manifests/v1", "PUT"),
        ("PUT", "/v2/acme/web/referrers/sha256:" + "a" * 64, "GET"),
        ("PATCH", "/v2/acme/web/blobs/sha256:" + "a" * 64, "DELETE"),
        ("GET", "/v2/acme/web/blobs/uploads/", "POST"),
        ("POST", "/v2/_catalog", "GET"),
    ],
)
async def test_wrong_method_on_a_known_route_is_405_with_an_error_body(
    registry: Registry, method: str, path: str, allowed: str
) -> None:
    response = await registry.client.request(method, path)
    assert response.status_code == 405
    assert error_code(response) == "UNSUPPORTED"
    assert method in response.json()["errors"][0]["message"]
    assert allowed in response.headers["allow"]


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE"])
async def test_method_the_registry_never_serves_is_405_with_an_error_body(
    registry: Registry, method: str
) -> None:
    response = await registry.client.request(method, "/v2/acme/web/manifests/v1")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/json"), response.text
    assert error_code(response) == "UNSUPPORTED"
    assert response.headers["docker-distribution-api-version"] == API_VERSION


async def test_error_body_has_code_and_message(registry: Registry) -> None:
    response = await registry.client.get("/v2/acme/web/manifests/v1")
    assert response.status_code == 404
    errors = response.json()["errors"]
    assert len(errors) == 1
    assert set(errors[0]) <= {"code", "message", "detail"}
    assert errors[0]["code"] == "NAME_UNKNOWN"
    assert "acme/web" in errors[0]["message"]


async def test_huge_unrelated_header_is_harmless(registry: Registry) -> None:
    response = await registry.client.get("/v2/", headers={"X-Padding": "a" * 1_000_000})
    assert response.status_code == 200


async def test_huge_accept_header_on_a_manifest_get_is_a_4xx(registry: Registry) -> None:
    response = await registry.client.get(
        "/v2/acme/web/manifests/v1", headers={"Accept": "text/plain, " * 100_000}
    )
    assert response.status_code == 404
    assert error_code(response) == "NAME_UNKNOWN"


# Repository names, checked while routing, before any handler runs

VALID_NAMES = ["a", "0", "acme/web", "a.b", "a_b", "a__b", "a--b", "a-b-c/d.e_f/g__h", "a" * 255]
INVALID_NAMES = {
    "uppercase": "Acme/web",
    "empty-component": "acme//web",
    "trailing-slash": "acme/web/",
    "leading-separator": "-acme",
    "trailing-separator": "acme-",
    "triple-underscore": "acme___web",
    "mixed-separators": "acme.-web",
    "double-dot": "acme..web",
    "space": "acme%20web",
    "colon": "acme:5000/web",
    "non-ascii": "acm%C3%A9",
    "too-long": "a" * 256,
    "too-long-with-components": "/".join(["abcdefg"] * 40),
}
DOT_SEGMENT_NAMES = {
    "dot-dot": "acme/../web",
    "encoded-dot-dot": "acme/%2e%2e/web",
    "upper-encoded-dot-dot": "acme/%2E%2E/web",
    "leading-dot-dot": "../acme",
    "encoded-escape": "%2e%2e/%2e%2e/%2e%2e/etc",
    "dot": "acme/./web",
    "encoded-dot": "acme/%2e/web",
}


@pytest.mark.parametrize("name", VALID_NAMES)
async def test_valid_repository_names_are_accepted(registry: Registry, name: str) -> None:
    response = await registry.client.post(f"/v2/{name}/blobs/uploads/")
    assert response.status_code == 202, response.text
    assert [row["package_name"] for row in await registry.rows("uploads")] == [name]


@pytest.mark.parametrize("name", INVALID_NAMES.values(), ids=INVALID_NAMES.keys())
@pytest.mark.parametrize(
    ("method", "resource"),
    [
        ("POST", "blobs/uploads/"),
        ("PUT", "manifests/v1"),
        ("GET", "manifests/v1"),
        ("GET", "tags/list"),
        ("GET", "blobs/sha256:" + "a" * 64),
        ("GET", "referrers/sha256:" + "a" * 64),
    ],
)
async def test_invalid_repository_name_is_400_name_invalid_and_creates_nothing(
    registry: Registry, name: str, method: str, resource: str
) -> None:
    response = await registry.raw(method, f"/v2/{name}/{resource}", body=b"{}")

    assert response.status_code == 400
    assert error_code(response) == "NAME_INVALID"
    assert "name" in response.json()["errors"][0]["message"]
    assert await registry.rows("packages") == []
    assert await registry.rows("uploads") == []


async def test_name_too_long_error_names_the_limit(registry: Registry) -> None:
    response = await registry.client.post(f"/v2/{'a' * 256}/blobs/uploads/")

    assert response.status_code == 400
    assert error_code(response) == "NAME_INVALID"
    assert "255" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("name", DOT_SEGMENT_NAMES.values(), ids=DOT_SEGMENT_NAMES.keys())
@pytest.mark.parametrize(
    ("method", "resource"),
    [("POST", "blobs/uploads/"), ("PUT", "manifests/v1"), ("GET", "tags/list")],
)
async def test_dot_segments_in_a_raw_path_are_400_name_invalid(
    registry: Registry, name: str, method: str, resource: str
) -> None:
    await registry.push_blob("web", random_blob())

    response = await registry.raw(method, f"/v2/{name}/{resource}", body=b"{}")

    assert response.status_code == 400
    assert error_code(response) == "NAME_INVALID"
    assert [row["name"] for row in await registry.rows("packages")] == ["web"]
    assert await registry.rows("uploads") == []
    assert await registry.rows("manifests") == []


async def test_encoded_slash_in_a_name_is_the_same_name(registry: Registry) -> None:
    await registry.push_blob("acme/web", random_blob())

    response = await registry.raw("GET", "/v2/acme%2Fweb/tags/list")

    assert response.status_code == 200
    assert response.json() == {"name": "acme/web", "tags": []}


async def test_many_headers_are_harmless(registry: Registry) -> None:
    headers = [(f"X-Header-{i}", "v" * 100) for i in range(2_000)]

    response = await registry.client.get("/v2/acme/web/tags/list", headers=headers)

    assert response.status_code == 404
    assert error_code(response) == "NAME_UNKNOWN"


async def test_server_bug_is_a_500_with_an_error_body_and_no_stack_trace(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(manifests, "list_tags", broken)
    registry.client.event_hooks["response"] = []  # this 500 is the point of the test
    await registry.push_blob("acme/web", random_blob())

    response = await registry.client.get("/v2/acme/web/tags/list")

    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json")
    assert error_code(response) == "UNKNOWN"
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    assert response.headers["docker-distribution-api-version"] == API_VERSION
