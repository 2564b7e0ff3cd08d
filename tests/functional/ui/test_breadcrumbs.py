"""Breadcrumbs follow one rule on every page: workspace / project / repository / package /
tag, as far as the page goes, each a link."""

from __future__ import annotations

import re

import pytest

from tests.functional.ui.conftest import Ui


def crumbs(html: str) -> list[tuple[str, str]]:
    nav = re.search(r'<nav class="crumbs"[^>]*>(.*?)</nav>', html, re.S)
    assert nav is not None
    return re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav.group(1))


WS = ("/w/acme", "acme")
PROJECT = ("/w/acme/projects/PLAT", "PLAT")
REPO = ("/w/acme/repos/web", "web")
PACKAGE = ("/p/acme/web/api", "web/api")
TAG = ("/p/acme/web/api/-/tags/v1", "v1")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/w/acme/projects/PLAT", [WS, PROJECT]),
        ("/w/acme/repos/web", [WS, PROJECT, REPO]),
        ("/p/acme/web/api", [WS, PROJECT, REPO, PACKAGE]),
        ("/p/acme/web/api/-/settings", [WS, PROJECT, REPO, PACKAGE]),
        ("/p/acme/web/api/-/tags/v1", [WS, PROJECT, REPO, PACKAGE, TAG]),
        ("/p/acme/web/api/-/tags/v1/delete", [WS, PROJECT, REPO, PACKAGE, TAG]),
        ("/p/acme/web/api/-/settings/delete", [WS, PROJECT, REPO, PACKAGE]),
        ("/w/acme/members", [WS]),
        ("/w/acme/tokens", [WS]),
        ("/w/acme/repos/web/tokens", [WS, PROJECT, REPO]),
        ("/w/acme/repos/web/settings", [WS, PROJECT, REPO]),
        ("/w/acme/projects/PLAT/settings", [WS, PROJECT]),
        ("/w/acme/usage", [WS]),
    ],
)
async def test_breadcrumbs_go_workspace_project_repository_package_tag(
    ui: Ui, path: str, expected: list[tuple[str, str]]
) -> None:
    await ui.api.push("acme/web/api", "v1")
    page = await (await ui.as_("owner")).get(path)
    assert page.status_code == 200, path
    assert crumbs(page.text) == expected


async def test_a_public_repository_shows_its_project_to_visitors(ui: Ui) -> None:
    page = await ui.anonymous().get("/w/acme/repos/site")
    assert crumbs(page.text) == [
        WS,
        ("/w/acme/projects/WWW", "WWW"),
        ("/w/acme/repos/site", "site"),
    ]
