"""Times read as how long ago ("2 minutes ago", "2 分前"), the exact time on hover."""

from __future__ import annotations

import re

from tests.functional.ui.conftest import Ui


async def _pushed_two_minutes_ago(ui: Ui) -> None:
    await ui.api.push("acme/web/api", "v1")
    ctx = ui.api.context
    await ctx.db.execute(
        "UPDATE tags SET updated_at = :at WHERE name = 'v1'", {"at": ctx.now() - 125}
    )


async def test_a_tag_says_how_long_ago_it_was_pushed(ui: Ui) -> None:
    await _pushed_two_minutes_ago(ui)
    page = await (await ui.as_("reader")).get("/p/acme/web/api")
    assert re.search(r"<time [^>]*>2 minutes ago</time>", page.text)


async def test_the_exact_time_shows_on_hover(ui: Ui) -> None:
    await _pushed_two_minutes_ago(ui)
    page = await (await ui.as_("reader")).get("/p/acme/web/api")
    found = re.search(r'<time datetime="([^"]+)" title="([^"]+)">2 minutes ago</time>', page.text)
    assert found
    assert found[1].endswith("+00:00") and found[2].endswith(" UTC")


async def test_relative_times_are_in_japanese_too(ui: Ui) -> None:
    await _pushed_two_minutes_ago(ui)
    reader = await ui.as_("reader")
    reader.language = "ja"
    page = await reader.get("/p/acme/web/api")
    assert re.search(r"<time [^>]*>2 分前</time>", page.text)
