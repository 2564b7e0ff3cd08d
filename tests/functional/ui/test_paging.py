"""Pages stay fast with many packages and tags: the first page of a workspace with 2,000
packages, and of a package with 5,000 tags, reads one page of rows, never all of them."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest

from cargohold.services.accounts import directory
from tests.functional.ui.conftest import Ui

PACKAGES = 2000
TAGS = 5000


class _Counting:
    """A database (or transaction) whose `fetchall` records how many rows it returned."""

    def __init__(self, inner: Any, counts: list[int]) -> None:
        self._inner = inner
        self._fetchall = inner.fetchall  # taken before any patching
        self._counts = counts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def fetchall(self, sql: str, params: Any = None) -> Any:
        rows = await self._fetchall(sql, params)
        self._counts.append(len(rows))
        return rows


@contextmanager
def rows_read(ui: Ui) -> Iterator[list[int]]:
    """The number of rows each query of the block returned, on either database."""
    db: Any = ui.api.context.db
    fetchall, transaction = db.fetchall, db.transaction
    counts: list[int] = []

    @asynccontextmanager
    async def counting_transaction() -> AsyncIterator[Any]:
        async with transaction() as tx:
            yield _Counting(tx, counts)

    db.fetchall = _Counting(db, counts).fetchall
    db.transaction = counting_transaction
    try:
        yield counts
    finally:
        db.fetchall, db.transaction = fetchall, transaction


async def _many_packages(ui: Ui) -> None:
    ctx = ui.api.context
    async with ctx.db.transaction() as tx:
        repository = await directory.find_repository(tx, "acme/web")
        for i in range(PACKAGES):
            await tx.execute(
                "INSERT INTO packages (name, created_at) VALUES (:n, :t)",
                {"n": f"acme/web/many-{i:04d}", "t": ctx.now()},
            )
        await tx.execute(
            "INSERT INTO package_links (package_id, repository_id) SELECT id, :r FROM packages"
            " WHERE name LIKE 'acme/web/many-%'",
            {"r": repository.id},
        )


def _links(text: str, prefix: str) -> list[str]:
    return re.findall(rf'href="{re.escape(prefix)}([^"]+)"', text)


@pytest.mark.parametrize("sort", ["name", "pushed", "size"])
async def test_workspace_with_2000_packages_reads_one_page(ui: Ui, sort: str) -> None:
    await _many_packages(ui)
    owner = await ui.as_("owner")
    with rows_read(ui) as counts:
        page = await owner.get("/w/acme", params={"sort": sort})
    assert page.status_code == 200
    assert max(counts) <= 51
    first = _links(page.text, "/p/")
    assert len(first) == 50
    following = re.search(r'rel="next" href="([^"]+)"', page.text)
    assert following
    second = await owner.get(html.unescape(following[1]))
    more = _links(second.text, "/p/")
    assert len(more) == 50 and not set(more) & set(first)


async def test_workspace_search_pages_too(ui: Ui) -> None:
    await _many_packages(ui)
    owner = await ui.as_("owner")
    page = await owner.get("/w/acme", params={"q": "many-19"})
    assert len(_links(page.text, "/p/")) == 50  # many-1900 .. many-1999: 100 match
    assert 'rel="next"' in page.text


async def test_package_with_5000_tags_reads_one_page(ui: Ui) -> None:
    await ui.api.push("acme/web/api", "v0")
    ctx = ui.api.context
    async with ctx.db.transaction() as tx:
        for i in range(TAGS):
            await tx.execute(
                "INSERT INTO tags (package_id, name, manifest_id, updated_at)"
                " SELECT t.package_id, :n, t.manifest_id, t.updated_at FROM tags t"
                " JOIN packages p ON p.id = t.package_id WHERE p.name = 'acme/web/api'"
                " AND t.name = 'v0'",
                {"n": f"t{i:05d}"},
            )
    reader = await ui.as_("reader")
    with rows_read(ui) as counts:
        page = await reader.get("/p/acme/web/api")
    assert page.status_code == 200
    assert max(counts) <= 51
    tags = _links(page.text, "/p/acme/web/api/-/tags/")
    assert len(tags) == 50 and tags[0] == "t00000"
    following = re.search(r'rel="next" href="([^"]+)"', page.text)
    assert following
    second = await reader.get(html.unescape(following[1]))
    assert _links(second.text, "/p/acme/web/api/-/tags/")[0] == "t00050"
