"""The API renders every domain error from its class data: the status, the message, the
headers, and a challenge on a 401."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from starlette.requests import Request
from starlette.responses import Response

from cargohold.oci.errors import Unavailable
from cargohold.services.accounts.logins import TooManyAttempts
from cargohold.services.errors import ServiceError
from cargohold.web.api import problems
from tests.unit.services.test_errors import ERRORS, example


def request(headers: dict[str, str] | None = None) -> Request:
    settings = SimpleNamespace(token_service="registry.test")
    app = SimpleNamespace(state=SimpleNamespace(context=SimpleNamespace(settings=settings)))
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw, "app": app})


def body(response: Response) -> dict[str, object]:
    parsed = json.loads(bytes(response.body))
    assert isinstance(parsed, dict)
    return parsed


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
async def test_the_api_answers_each_service_error_with_the_status_of_its_class(
    cls: type[ServiceError],
) -> None:
    response = await problems.service_error(request(), example(cls))
    assert response.status_code == cls.status
    assert body(response)["status"] == cls.status
    assert body(response)["detail"] == "an example"


@pytest.mark.parametrize("cls", [c for c in ERRORS if c.status == 401], ids=lambda c: c.__name__)
async def test_every_401_carries_the_bearer_challenge_invalid_when_credentials_came(
    cls: type[ServiceError],
) -> None:
    bare = await problems.service_error(request(), example(cls))
    sent = await problems.service_error(request({"Authorization": "Basic eA=="}), example(cls))
    assert bare.headers["www-authenticate"] == 'Bearer realm="registry.test"'
    assert sent.headers["www-authenticate"] == (
        'Bearer realm="registry.test", error="invalid_token"'
    )


async def test_the_headers_an_error_carries_are_answered() -> None:
    response = await problems.service_error(request(), TooManyAttempts(7))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert "www-authenticate" not in response.headers


async def test_an_outage_is_answered_from_its_class_data_with_its_retry_after() -> None:
    outage = Unavailable("the metadata database is unavailable", headers={"Retry-After": "5"})
    response = await problems.registry_error(request(), outage)
    assert response.status_code == Unavailable.status == 503
    assert response.headers["retry-after"] == "5"
    assert body(response)["detail"] == "the metadata database is unavailable"


async def test_a_problem_echoing_text_utf8_cannot_hold_has_replacement_characters() -> None:
    response = problems.problem(
        422, "bad \ud800", errors=[{"loc": ["body", "k\udc00"], "msg": "x", "type": "t"}]
    )

    assert response.status_code == 422
    parsed = json.loads(bytes(response.body).decode("utf-8"))
    assert parsed["detail"] == "bad \ufffd"
    assert parsed["errors"][0]["loc"] == ["body", "k\ufffd"]
