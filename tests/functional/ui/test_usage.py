"""The workspace usage page (`/w/WS/usage`): a bar chart of the largest packages and
repositories, the total, the bytes shared, and the quota gauge; the home page shows how
full each workspace with a quota is."""

from __future__ import annotations

import re

from cargohold.services.lifecycle import gc
from cargohold.services.registry import quotas
from tests.functional.ui.conftest import Ui
from tests.functional.ui.test_japanese import english_messages, visible_text


async def set_quota(ui: Ui, quota: int | None) -> None:
    async with ui.api.context.db.transaction() as tx:
        await quotas.set_quota(tx, workspace="acme", quota_bytes=quota)


async def test_usage_page_draws_a_chart_of_the_largest_packages(ui: Ui) -> None:
    await ui.api.push("acme/web/api", "v1")
    await ui.api.push("acme/site/www", "v1")
    page = await (await ui.as_("owner")).get("/w/acme/usage")
    assert page.status_code == 200
    text = page.text
    assert text.count('<svg viewBox="0 0 640') == 2  # packages, repositories
    assert re.search(
        r'<a href="/p/acme/web/api">\s*<title>acme/web/api: [\d.]+ (bytes|kB)</title>', text
    )
    assert re.search(r'<rect x="230" y="5" width="300"', text)  # the largest: the full bar
    assert "Total storage" in text and "Shared between packages" in text
    assert 'href="/w/acme/repos/web"' in text


async def test_usage_page_shows_the_quota_gauge(ui: Ui) -> None:
    await ui.api.push("acme/web/api", "v1")
    owner = await ui.as_("owner")
    assert "No quota" in (await owner.get("/w/acme/usage")).text
    await set_quota(ui, 10_000_000)
    page = await owner.get("/w/acme/usage")
    assert '<meter id="quota-gauge" class="quota" min="0" max="10000000"' in page.text
    assert re.search(r"[\d.]+ (bytes|kB) of 10 MB \(0\.\d%\)", page.text)


async def test_home_page_shows_how_full_each_workspace_with_a_quota_is(ui: Ui) -> None:
    await ui.api.push("acme/web/api", "v1")
    await set_quota(ui, 1000)
    page = await (await ui.as_("owner")).get("/")
    assert '<a class="gauge" href="/w/acme/usage">' in page.text
    assert '<meter id="quota-acme"' in page.text
    assert re.search(r"of 1 kB \(\d{2,}\.\d%\)", page.text)
    assert "quota-globex" not in (await (await ui.as_("other")).get("/")).text


async def test_workspace_page_links_its_usage(ui: Ui) -> None:
    page = await (await ui.as_("reader")).get("/w/acme")
    assert 'href="/w/acme/usage"' in page.text


async def test_readers_see_their_packages_without_the_totals(ui: Ui) -> None:
    await ui.api.push("acme/web/api", "v1")
    await set_quota(ui, 1000)
    page = await ui.anonymous().get("/w/acme/usage")
    assert page.status_code == 200
    assert "acme/site/www" in page.text and "acme/web/api" not in page.text
    assert "<meter" not in page.text and "Total storage" not in page.text
    assert "shown to members of the workspace" in page.text


async def test_usage_page_of_an_unknown_workspace_is_not_found(ui: Ui) -> None:
    page = await (await ui.as_("owner")).get("/w/nope/usage")
    assert page.status_code == 404
    hidden = await (await ui.as_("outsider")).get("/w/globex/usage")
    assert hidden.status_code == 404


async def test_usage_pages_in_japanese_have_no_english_left(ui: Ui) -> None:
    await ui.api.push("acme/web/api", "v1")
    await set_quota(ui, 10_000_000)
    owner = await ui.as_("owner")
    owner.language = "ja"
    messages = [m for m in english_messages() if re.search(r"[A-Za-z]{3}", m)]
    for path in ("/w/acme/usage", "/"):
        page = await owner.get(path)
        assert page.status_code == 200
        assert '<html lang="ja">' in page.text
        for text in visible_text(page.text):
            assert text not in messages, f"untranslated {text!r} on {path}"
            if re.fullmatch(r"[\x00-\x7f]+", text) and re.search(r"[A-Za-z]{2}", text):
                assert re.fullmatch(
                    r"(Cargohold|English|[a-z0-9-]+|acme[\w/.-]*|[\d.]+ (byte|KB|MB|GB)"
                    r"|[\w/.-]+: [\d.]+ (byte|KB|MB|GB))",
                    text,
                ), f"English-looking text {text!r} on {path}"
    page = await owner.get("/w/acme/usage")
    assert "ストレージ使用量" in page.text and "クォータ" in page.text


async def test_usage_page_shows_the_last_collection_and_the_unused_layers(ui: Ui) -> None:
    digest = await ui.api.push("acme/web/api", "v1")
    owner = await ui.as_("owner")
    page = await owner.get("/w/acme/usage")
    assert "Last garbage collection" in page.text and "Not run yet" in page.text
    assert re.search(r"Unused layers</dt><dd>0 bytes", page.text)
    deleted = await owner.post(f"/p/acme/web/api/-/manifests/{digest}/delete")
    assert deleted.status_code == 303, deleted.text
    page = await owner.get("/w/acme/usage")
    unused = re.search(r"Unused layers</dt><dd>(\d+) bytes", page.text)
    assert unused and int(unused[1]) > 64  # the layer and the config
    await gc.collect(ui.api.context, grace=0)
    page = await owner.get("/w/acme/usage")
    assert re.search(r"Last garbage collection</dt><dd><time datetime=", page.text)
    assert re.search(r"Unused layers</dt><dd>0 bytes", page.text)


async def test_only_members_see_the_collection(ui: Ui) -> None:
    await ui.api.push("acme/site/www", "v1")
    page = await (await ui.as_("outsider")).get("/w/acme/usage")
    assert page.status_code == 200
    assert "Unused layers" not in page.text and "Last garbage collection" not in page.text
