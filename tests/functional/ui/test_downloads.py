"""The package page shows how often the package, and each tag, was pulled."""

from __future__ import annotations

import base64
import re

from cargohold.services.events import downloads
from tests.functional.api.people import email
from tests.functional.ui.conftest import Ui, push_multi_arch


async def test_the_package_page_shows_downloads_of_the_package_and_each_tag(ui: Ui) -> None:
    await push_multi_arch(ui, "acme/web/api", "v2")
    credentials = f"{email('owner')}:{await ui.api.token('owner')}"
    basic = "Basic " + base64.b64encode(credentials.encode()).decode()
    for _ in range(3):
        pulled = await ui.api.client.get(
            "/v2/acme/web/api/manifests/v2", headers={"Authorization": basic, "Accept": "*/*"}
        )
        assert pulled.status_code == 200
    await downloads.flush(ui.api.context.db, ui.api.context.downloads)
    page = await (await ui.as_("reader")).get("/p/acme/web/api")
    assert page.status_code == 200
    assert re.search(r"<dt>Downloads</dt><dd>3</dd>", page.text)
    row = re.search(r'<a href="/p/acme/web/api/-/tags/v2">v2</a>.*?</tr>', page.text, re.S)
    assert row is not None and '<td class="num">3</td>' in row[0]
