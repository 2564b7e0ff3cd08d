"""Every error is RFC 9457 problem JSON: type, title, status, detail."""

from __future__ import annotations

import httpx
import pytest

from cargohold.services.accounts.checked import workspaces
from tests.functional.api.people import Api, assert_problem


async def test_unknown_route_is_a_404_problem(api: Api) -> None:
    assert_problem(await api.get("/no/such/thing", "owner"), 404)


async def test_wrong_method_is_a_405_problem(api: Api) -> None:
    assert_problem(await api.put("/workspaces", "owner", json={}), 405)


async def test_not_found_is_404(api: Api) -> None:
    body = assert_problem(await api.get("/workspaces/nope", "owner"), 404)
    assert body["title"] == "Not Found"


async def test_forbidden_is_403(api: Api) -> None:
    body = assert_problem(await api.patch("/workspaces/acme", "member", json={"name": "x"}), 403)
    assert body["title"] == "Forbidden"


async def test_conflict_is_409(api: Api) -> None:
    body = assert_problem(await api.post("/workspaces", "owner", json={"slug": "acme"}), 409)
    assert "already exists" in body["detail"]


async def test_invalid_value_is_422(api: Api) -> None:
    body = assert_problem(await api.post("/workspaces", "owner", json={"slug": "Bad Slug"}), 422)
    assert "invalid workspace" in body["detail"]


async def test_body_that_fails_validation_is_422_naming_the_field(api: Api) -> None:
    body = assert_problem(await api.post("/workspaces", "owner", json={}), 422)
    assert body["errors"][0]["loc"] == ["body", "slug"]
    assert body["detail"].startswith("body.slug:")


async def test_unknown_fields_are_refused(api: Api) -> None:
    response = await api.post("/workspaces", "owner", json={"slug": "new", "colour": "red"})
    assert assert_problem(response, 422)["errors"][0]["loc"] == ["body", "colour"]


async def test_malformed_json_is_400(api: Api) -> None:
    response = await api.post(
        "/workspaces",
        "owner",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 400)


async def test_unauthenticated_is_401(api: Api) -> None:
    body = assert_problem(await api.delete("/packages/acme/site/www"), 401)
    assert body["title"] == "Unauthorized"


async def test_a_server_fault_is_a_500_problem_without_details(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(workspaces, "list_workspaces", crash)
    async with httpx.AsyncClient(transport=api.transport, base_url=api.client.base_url) as client:
        response = await client.get("/api/v1/workspaces", headers=await api.headers("owner"))
    body = assert_problem(response, 500)
    assert "secret internals" not in response.text
    assert "logged" in body["detail"]
