"""The management API under /api/v1, from its own OpenAPI document: schemathesis makes
requests that fit the schema and requests that break it (wrong types, missing and extra
fields, odd path and query values), across every operation. About half the path
parameters are then set to names the world has (workspaces, repositories, packages,
people, tags), so the cases reach past the 404. Each runs as one of the fuzz callers
(the owner of globex, a writer and a reader of acme/web, an outsider, nobody) with its
admin:package API token; none of them may delete what acme holds.

The invariants are those of harness.py.
"""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.functional.api.people import PEOPLE, email
from tests.fuzz.harness import CALLERS, KEPT, REQUEST_TIMEOUT, WRITABLE, Fuzz, _bounded

FUZZ = settings.get_profile("cargohold-active")
BASE = "http://registry.test/api/v1"
KNOWN: dict[str, list[str]] = {
    "workspace": ["globex", "acme"],
    "repository": ["app", "web", "site"],
    "key": ["APP", "PLAT", "WWW"],
    "name": [*WRITABLE, *KEPT, "acme/web/db"],
    "email": [email(who) for who in PEOPLE if who != "other"],
    "tag": ["v1", "latest", "multi"],
    "token_id": ["0" * 12],
}


class Schema:
    """The schema and its strategies, made once per surface."""

    def __init__(self, fuzz: Fuzz, document: dict[str, Any]) -> None:
        schema = schemathesis.openapi.from_dict(document)
        self.cases = st.one_of(
            schema.as_strategy(GenerationMode.POSITIVE),
            schema.as_strategy(GenerationMode.NEGATIVE),
        )
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=fuzz.app, raise_app_exceptions=False),
            base_url="http://registry.test",
        )
        self.tokens: dict[str | None, dict[str, str]] = {None: {}}


async def _setup(fuzz: Fuzz) -> Schema:
    response = await fuzz.send("GET", "/api/v1/openapi.json")
    assert response.status_code == 200, response.text
    api = Schema(fuzz, response.json())
    for who in CALLERS:
        if who is not None:
            api.tokens[who] = {"authorization": f"Bearer {await fuzz.api.token(who)}"}
    return api


@FUZZ
@given(data=st.data())
def test_management_api(open_surface: Any, data: st.DataObject) -> None:
    fuzz: Fuzz = open_surface("api")
    if "api" not in fuzz.extra:
        fuzz.extra["api"] = fuzz.run(_setup(fuzz))
    api: Schema = fuzz.extra["api"]
    case = data.draw(api.cases, label="case")
    known: dict[str, str] = {}
    for param in sorted(case.path_parameters or {}):
        if param in KNOWN and data.draw(st.booleans(), label=f"known {param}"):
            placeholder = f"KNOWN{len(known)}X"
            known[placeholder] = KNOWN[param][
                data.draw(st.integers(0, len(KNOWN[param]) - 1), label=param)
            ]
            case.path_parameters[param] = placeholder
    who = data.draw(st.sampled_from(CALLERS), label="caller")
    request = case.as_transport_kwargs(base_url=BASE)
    for placeholder, value in known.items():  # names keep their slashes unescaped
        request["url"] = request["url"].replace(placeholder, value)
    fuzz.run(_case(fuzz, api, request, who))


async def _case(fuzz: Fuzz, api: Schema, request: dict[str, Any], who: str | None) -> None:
    headers = {
        key: value
        for key, value in (request.get("headers") or {}).items()
        if key.lower() not in ("authorization", "connection", "accept-encoding")
    }
    headers.update(api.tokens[who])
    body: dict[str, Any] = {}
    if "json" in request:
        body["json"] = request["json"]
    elif request.get("data") is not None:
        data = request["data"]
        body["content"] = data if isinstance(data, bytes) else str(data).encode()
    before = await fuzz.state()
    response = await _bounded(
        api.client.request(
            request["method"],
            request["url"],
            headers=headers,
            params=request.get("params") or None,
            **body,
        ),
        REQUEST_TIMEOUT,
        f"{request['method']} {request['url'][:200]}",
    )
    fuzz.stats.requests += 1
    fuzz.stats.statuses[response.status_code] += 1
    await fuzz.server_error(response)
    after = await fuzz.state()
    fuzz.refused_left_nothing(before, after, response)
    await fuzz.check()
