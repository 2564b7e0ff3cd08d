"""A package's tags: the pull command names a tag that exists (`latest`, else the last
pushed), an empty package shows how to push to it, and the tags sort by last push (by
name in natural order on request) and filter by name."""

from __future__ import annotations

import html
import re

from tests.functional.ui.conftest import Ui

PACKAGE = "acme/web/api"


async def _push_at(ui: Ui, pushes: dict[str, float]) -> None:
    """Push each tag, then record it as last pushed at the given time."""
    for tag, at in pushes.items():
        await ui.api.push(PACKAGE, tag)
        await ui.api.context.db.execute(
            "UPDATE tags SET updated_at = :at WHERE name = :tag AND package_id ="
            " (SELECT id FROM packages WHERE name = :name)",
            {"at": at, "tag": tag, "name": PACKAGE},
        )


def _tags(text: str) -> list[str]:
    return re.findall(rf'href="/p/{PACKAGE}/-/tags/([^"/]+)"', text)


async def test_pull_command_names_latest_when_it_exists(ui: Ui) -> None:
    await _push_at(ui, {"v1": 100, "latest": 200, "v2": 300})
    page = await (await ui.as_("reader")).get(f"/p/{PACKAGE}")
    assert f"docker pull registry.test/{PACKAGE}:latest" in page.text


async def test_pull_command_names_the_last_pushed_tag_without_latest(ui: Ui) -> None:
    await _push_at(ui, {"v2": 300, "v10": 100})
    page = await (await ui.as_("reader")).get(f"/p/{PACKAGE}", params={"q": "v10"})
    assert f"docker pull registry.test/{PACKAGE}:v2" in page.text
    assert ":latest" not in page.text


async def test_an_empty_package_shows_how_to_push_instead_of_a_pull_command(ui: Ui) -> None:
    page = await (await ui.as_("reader")).get("/p/acme/web/db")
    assert page.status_code == 200
    assert "docker pull" not in page.text
    assert "docker tag IMAGE registry.test/acme/web/db:latest" in page.text
    assert "docker push registry.test/acme/web/db:latest" in page.text


async def test_tags_sort_by_last_push_by_default(ui: Ui) -> None:
    await _push_at(ui, {"old": 100, "newest": 300, "middle": 200})
    page = await (await ui.as_("reader")).get(f"/p/{PACKAGE}")
    assert _tags(page.text) == ["newest", "middle", "old"]


async def test_tags_sort_by_name_in_natural_order(ui: Ui) -> None:
    await _push_at(ui, {"build-10": 100, "build-2": 200, "build-1": 300})
    page = await (await ui.as_("reader")).get(f"/p/{PACKAGE}", params={"sort": "name"})
    assert _tags(page.text) == ["build-1", "build-2", "build-10"]


async def test_the_filter_box_keeps_the_tags_whose_name_contains_it(ui: Ui) -> None:
    await _push_at(ui, {"build-1": 100, "release-1": 200, "build-2": 300})
    page = await (await ui.as_("reader")).get(f"/p/{PACKAGE}", params={"q": "build"})
    assert _tags(page.text) == ["build-2", "build-1"]
    none = await (await ui.as_("reader")).get(f"/p/{PACKAGE}", params={"q": "nope"})
    assert _tags(none.text) == [] and "No tag matches." in none.text


async def test_the_next_page_keeps_the_filter_and_the_order(ui: Ui) -> None:
    await _push_at(ui, {f"build-{i}": 1000 - i for i in range(1, 56)})
    await _push_at(ui, {"other": 2000})
    reader = await ui.as_("reader")
    for sort in ("pushed", "name"):
        first = await reader.get(f"/p/{PACKAGE}", params={"q": "build", "sort": sort})
        following = re.search(r'rel="next" href="([^"]+)"', first.text)
        assert following, sort
        second = await reader.get(html.unescape(following[1]))
        shown = _tags(first.text) + _tags(second.text)
        assert shown == [f"build-{i}" for i in range(1, 56)], sort
