"""A workspace's storage usage: bar charts of its largest packages and repositories (inline
SVG, drawn on the server), the total, the bytes shared between packages, and the quota."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from cargohold.services.lifecycle.checked import usage
from cargohold.web.ui.page import begin

CHART_BARS = 10  # the largest this many packages (and repositories) are drawn
CHART_WIDTH = 640
ROW_HEIGHT = 28
LABEL_WIDTH = 230  # the names, right-aligned against the bars
BAR_WIDTH = 300  # the longest bar; the sizes follow the bars
LABEL_CHARS = 30


@dataclass(frozen=True, slots=True)
class Bar:
    name: str
    label: str  # the name, shortened to fit
    href: str
    bytes: int
    y: int
    width: int


@dataclass(frozen=True, slots=True)
class Chart:
    bars: list[Bar]
    width: int = CHART_WIDTH
    height: int = 0
    label_end: int = LABEL_WIDTH - 8
    bar_start: int = LABEL_WIDTH


def _label(name: str) -> str:
    return name if len(name) <= LABEL_CHARS else "…" + name[-(LABEL_CHARS - 1) :]


def chart(items: list[tuple[str, str, int]]) -> Chart:
    """Bars for the largest (name, link, bytes) items, in the order given (largest first),
    each as long as its share of the largest; a non-empty item gets at least one pixel."""
    shown = items[:CHART_BARS]
    largest = max((size for _, _, size in shown), default=0)
    bars = []
    for row, (name, href, size) in enumerate(shown):
        width = round(BAR_WIDTH * size / largest) if largest else 0
        bars.append(
            Bar(name, _label(name), href, size, row * ROW_HEIGHT, max(width, 1 if size else 0))
        )
    return Chart(bars, height=max(len(bars), 1) * ROW_HEIGHT)


async def usage_page(request: Request) -> Response:
    page = await begin(request)
    workspace = request.path_params["workspace"]
    async with page.transaction() as tx:
        found = await usage.show_workspace_usage(tx, page.principal, workspace)
        collection = None
        if found.total is not None:  # members: the workspace as a whole
            collection = await usage.show_collection(tx, page.principal, workspace)
    packages = chart([(p.name, f"/p/{p.name}", p.bytes) for p in found.packages])
    repositories = chart(
        [
            (r.full_name, f"/w/{workspace}/repos/{r.full_name.split('/', 1)[1]}", r.bytes)
            for r in found.repositories
        ]
    )
    return page.render(
        "usage.html",
        workspace=workspace,
        usage=found,
        collection=collection,
        package_chart=packages,
        repository_chart=repositories,
    )
