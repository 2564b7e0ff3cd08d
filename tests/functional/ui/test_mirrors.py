"""A mirrored package's page names the upstream it is mirrored from (docs/mirror.md), in
English and in Japanese; other packages' pages do not."""

from __future__ import annotations

import pytest

from cargohold.services.accounts import directory
from cargohold.services.registry import packages
from tests.functional.ui.conftest import Ui
from tests.functional.ui.test_japanese import visible_text

pytestmark = pytest.mark.settings(mirror_allowed_networks=["127.0.0.0/8"])
UPSTREAM = "http://127.0.0.1:5999"


async def _mirrored_package(ui: Ui) -> None:
    """The mirror acme/hub and a package of it, as a first pull leaves them."""
    made = await ui.api.post(
        "/workspaces/acme/mirrors", "owner", json={"prefix": "hub", "upstream": UPSTREAM}
    )
    assert made.status_code == 201, made.text
    ctx = ui.api.context
    async with ctx.db.transaction() as tx:
        repository = await directory.find_repository(tx, "acme/hub")
        await packages.create_package(
            tx, name="acme/hub/busybox", repository=repository, now=ctx.now()
        )


async def test_a_mirrored_package_names_its_upstream(ui: Ui) -> None:
    await _mirrored_package(ui)
    owner = await ui.as_("owner")
    page = await owner.get("/p/acme/hub/busybox")
    assert page.status_code == 200
    assert "Mirrored from" in page.text and UPSTREAM in page.text
    other = await owner.get("/p/acme/web/api")
    assert "Mirrored from" not in other.text


async def test_the_origin_reads_in_japanese(ui: Ui) -> None:
    await _mirrored_package(ui)
    owner = await ui.as_("owner")
    owner.language = "ja"
    page = await owner.get("/p/acme/hub/busybox")
    assert "ミラー元" in page.text and "読み取り専用" in page.text
    assert not any("Mirrored" in text or "Read-only" in text for text in visible_text(page.text))
