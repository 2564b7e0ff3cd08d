"""The UI renders a domain error that reaches it from the error's class data."""

from __future__ import annotations

import httpx
import pytest

from cargohold.oci.errors import Unavailable
from cargohold.services.accounts.checked import tokens
from tests.functional.ui.conftest import Ui


async def test_an_outage_is_a_503_page_with_its_retry_after(
    ui: Ui, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(*args: object, **kwargs: object) -> None:
        raise Unavailable(
            "the metadata database is unavailable (no answer in time); try again shortly",
            detail={"component": "database"},
            headers={"Retry-After": "5"},
        )

    owner = await ui.as_("owner")
    monkeypatch.setattr(tokens, "list_personal_tokens", down)
    # a client of its own: the shared one fails the test on any 5xx
    async with httpx.AsyncClient(transport=ui.api.transport, base_url=ui.api.client.base_url) as c:
        page = await c.get("/settings/tokens", headers=owner._headers())
    assert page.status_code == 503
    assert page.headers["retry-after"] == "5"
    assert page.headers["content-type"].startswith("text/html")
    assert "the metadata database is unavailable" in page.text
