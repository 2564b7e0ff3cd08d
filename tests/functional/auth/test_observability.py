"""With accounts: each request's log line names who asked (an email or a token's name, and
the ids), never a secret; tokens issued and refused, and logins by outcome, are counted."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.functional.auth.world import PASSWORD, PRIVATE, World, basic_header, bearer, email
from tests.functional.registry import Registry

TOKEN = "metrics-token-" + "y" * 20
pytestmark = pytest.mark.settings(metrics_token=TOKEN, log_format="json")
MANIFEST = f"/v2/{PRIVATE}/manifests/v1"


async def counted(registry: Registry, name: str, **labels: str) -> float:
    response = await registry.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.access for r in caplog.records if r.name == "cargohold.access"]  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _access_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "cargohold.access")


async def test_a_request_with_an_api_token_logs_its_owner_and_ids_never_the_secret(
    registry: Registry, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    owner = world.credential("owner")
    caplog.clear()

    response = await registry.client.get(MANIFEST, headers=owner.basic)

    assert response.status_code == 200
    [line] = access_lines(caplog)
    assert line["principal"] == email("owner")
    assert str(line["principal_id"]).startswith("user:")
    assert str(line["principal_id"]).endswith(f":{owner.token_id}")
    assert owner.secret not in repr(line) and owner.secret not in caplog.text


async def test_a_request_with_a_registry_token_logs_whom_it_was_issued_to(
    registry: Registry, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    headers = await bearer(
        registry.client, world.credential("owner"), [f"repository:{PRIVATE}:pull"]
    )
    caplog.clear()

    await registry.client.get(MANIFEST, headers=headers)

    [line] = access_lines(caplog)
    assert line["principal"] == email("owner")
    assert headers["Authorization"].split()[1] not in caplog.text


async def test_an_api_request_logs_its_principal(
    registry: Registry, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    owner = world.credential("owner")
    caplog.clear()

    await registry.client.get("/api/v1/user", headers={"Authorization": f"Bearer {owner.secret}"})

    [line] = access_lines(caplog)
    assert (line["route"], line["principal"]) == ("api", email("owner"))


async def test_an_anonymous_request_logs_no_principal(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    await registry.client.get(MANIFEST)

    [line] = access_lines(caplog)
    assert (line["principal"], line["principal_id"], line["status"]) == (None, None, 401)


async def test_an_issued_registry_token_is_counted(registry: Registry, world: World) -> None:
    before = await counted(registry, "cargohold_tokens_issued_total")

    await bearer(registry.client, world.credential("owner"), [f"repository:{PRIVATE}:pull"])

    assert await counted(registry, "cargohold_tokens_issued_total") == before + 1


async def test_a_wrong_password_at_token_counts_as_a_refused_token_and_login(
    registry: Registry,
) -> None:
    refused = ("cargohold_tokens_refused_total", {"error": "invalid_grant"})
    login = ("cargohold_logins_total", {"credential": "password", "outcome": "refused"})
    before = [await counted(registry, name, **labels) for name, labels in (refused, login)]

    response = await registry.client.get(
        "/token", headers={"Authorization": basic_header(email("read"), "wrong password")}
    )

    assert response.status_code == 401
    after = [await counted(registry, name, **labels) for name, labels in (refused, login)]
    assert after == [before[0] + 1, before[1] + 1]


@pytest.mark.settings(login_max_failures=1, login_block_seconds=60)
async def test_a_throttled_password_login_is_counted(registry: Registry) -> None:
    wrong = {"Authorization": basic_header(email("read"), "wrong password")}
    throttled = {"credential": "password", "outcome": "throttled"}
    before = await counted(registry, "cargohold_logins_total", **throttled)
    slow_down = await counted(registry, "cargohold_tokens_refused_total", error="slow_down")

    first = await registry.client.get("/token", headers=wrong)
    second = await registry.client.get(
        "/token", headers={"Authorization": basic_header(email("read"), PASSWORD)}
    )

    assert (first.status_code, second.status_code) == (401, 429)
    assert await counted(registry, "cargohold_logins_total", **throttled) == before + 1
    assert await counted(registry, "cargohold_tokens_refused_total", error="slow_down") == (
        slow_down + 1
    )


async def test_an_accepted_token_login_is_counted(registry: Registry, world: World) -> None:
    accepted = {"credential": "token", "outcome": "accepted"}
    before = await counted(registry, "cargohold_logins_total", **accepted)

    await registry.client.get(MANIFEST, headers=world.credential("owner").basic)

    assert await counted(registry, "cargohold_logins_total", **accepted) == before + 1
