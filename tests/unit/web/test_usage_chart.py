"""The usage page's bar chart: the largest items, each bar its share of the largest."""

from __future__ import annotations

from cargohold.web.ui.usage import BAR_WIDTH, CHART_BARS, ROW_HEIGHT, chart


def test_bars_are_scaled_to_the_largest_item() -> None:
    drawn = chart([("a/big", "/p/a/big", 1000), ("a/half", "/p/a/half", 500), ("a/none", "", 0)])
    assert [bar.width for bar in drawn.bars] == [BAR_WIDTH, BAR_WIDTH // 2, 0]
    assert [bar.y for bar in drawn.bars] == [0, ROW_HEIGHT, 2 * ROW_HEIGHT]
    assert drawn.height == 3 * ROW_HEIGHT


def test_a_tiny_item_still_gets_a_visible_bar() -> None:
    drawn = chart([("a/big", "", 10**12), ("a/tiny", "", 1)])
    assert drawn.bars[1].width == 1


def test_only_the_largest_items_are_drawn() -> None:
    items = [(f"a/p{i}", "", 100 - i) for i in range(25)]
    assert [bar.name for bar in chart(items).bars] == [f"a/p{i}" for i in range(CHART_BARS)]


def test_long_names_are_shortened_from_the_front() -> None:
    name = "acme/" + "x" * 60 + "/api"
    bar = chart([(name, "", 1)]).bars[0]
    assert bar.label.startswith("…") and bar.label.endswith("x/api")
    assert len(bar.label) == 30 and bar.name == name


def test_an_empty_chart_keeps_a_height() -> None:
    assert chart([]).bars == [] and chart([]).height == ROW_HEIGHT
