"""One request, one transaction: an operation that fails part-way leaves nothing behind."""

from __future__ import annotations

import pytest

from cargohold.services.errors import Conflict
from cargohold.services.registry.checked import packages
from tests.functional.api.people import Api, assert_problem


async def test_a_failed_operation_rolls_its_writes_back(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(*args: object, **kwargs: object) -> None:
        raise Conflict("refused after the package row was written")

    monkeypatch.setattr(packages, "show_package", refuse)
    body = {"name": "acme/web/worker", "repository": "acme/web"}
    assert_problem(await api.post("/packages", "owner", json=body), 409)
    assert await api.rows("SELECT * FROM packages WHERE name = 'acme/web/worker'") == []


async def test_a_successful_operation_is_committed_before_the_answer(api: Api) -> None:
    body = {"name": "acme/web/worker", "repository": "acme/web"}
    assert (await api.post("/packages", "owner", json=body)).status_code == 201
    assert len(await api.rows("SELECT * FROM packages WHERE name = 'acme/web/worker'")) == 1
