"""The OpenAPI document is served, parses, and describes every operation."""

from __future__ import annotations

import json
from typing import Any

import openapi_spec_validator

from tests.functional.api.people import Api


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


async def document(api: Api) -> dict[str, Any]:
    response = await api.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    parsed: dict[str, Any] = json.loads(response.content)
    return parsed


async def test_openapi_document_is_served_as_json(api: Api) -> None:
    doc = await document(api)
    assert doc["openapi"].startswith("3.")
    assert doc["servers"] == [{"url": "/api/v1"}]
    assert {"/workspaces", "/packages/{name}", "/packages/{name}/-/tags", "/user/tokens"} <= set(
        doc["paths"]
    )


async def test_every_reference_resolves(api: Api) -> None:
    doc = await document(api)
    schemas = doc["components"]["schemas"]
    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


async def test_every_operation_documents_its_problems(api: Api) -> None:
    doc = await document(api)
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            problem = operation["responses"]["401"]["content"]["application/problem+json"]
            assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}, (method, path)
            assert operation["operationId"].replace("_", "").isalpha()


async def test_putting_a_member_documents_200_changed_and_201_added(api: Api) -> None:
    doc = await document(api)
    operation = doc["paths"]["/workspaces/{workspace}/members/{email}"]["put"]
    assert {"200", "201"} <= set(operation["responses"])


async def test_openapi_document_is_a_valid_openapi_document(api: Api) -> None:
    openapi_spec_validator.validate(await document(api))
