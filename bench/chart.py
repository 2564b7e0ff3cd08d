"""A hand-written SVG bar chart of the ratios (log scale, bars grow from 1x)."""

from __future__ import annotations

import math
from html import escape

from bench.report import RSS_LIMIT_MIB, Row

WIDTH = 880
LABEL_W = 360
PLOT_X0 = LABEL_W + 10
PLOT_X1 = WIDTH - 70
ROW_H = 40
TOP = 64
GREEN, RED, GREY = "#2e8b57", "#c0392b", "#7f8c8d"


def _domain(all_rows: list[Row]) -> tuple[float, float]:
    values = [1.0]
    for r in all_rows:
        values += [v for v in (r.ratio, r.ratio_target) if v is not None]
    lo = 2.0 ** math.floor(math.log2(min(min(values) / 1.15, 0.5)))
    hi = 2.0 ** math.ceil(math.log2(max(max(values) * 1.15, 4.0)))
    return lo, hi


def render(all_rows: list[Row], title: str, subtitle: str) -> str:
    lo, hi = _domain(all_rows)
    span = math.log2(hi) - math.log2(lo)

    def x(ratio: float) -> float:
        return PLOT_X0 + (math.log2(ratio) - math.log2(lo)) / span * (PLOT_X1 - PLOT_X0)

    own = [r for r in all_rows if r.spec.cargohold_only]
    height = TOP + ROW_H * len(all_rows) + (96 if own else 76)
    bottom = TOP + ROW_H * len(all_rows)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" '
        'font-size="13">',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="16" y="26" font-size="16" font-weight="bold">{escape(title)}</text>',
        f'<text x="16" y="46" fill="#555">{escape(subtitle)}</text>',
    ]
    # Grid and axis at powers of two.
    exp = round(math.log2(lo))
    while 2.0**exp <= hi:
        r = 2.0**exp
        gx = x(r)
        label = f"{r:g}x" if r >= 1 else f"1/{1 / r:g}x"
        colour, w = ("#333", 1.5) if r == 1 else ("#ddd", 1)
        out.append(
            f'<line x1="{gx:.1f}" y1="{TOP - 6}" x2="{gx:.1f}" y2="{bottom}" '
            f'stroke="{colour}" stroke-width="{w}"/>'
        )
        out.append(
            f'<text x="{gx:.1f}" y="{bottom + 18}" text-anchor="middle" fill="#555">{label}</text>'
        )
        exp += 1
    for i, row in enumerate(all_rows):
        y = TOP + i * ROW_H
        mid = y + ROW_H / 2
        label = escape(row.spec.label)
        if row.spec.cargohold_only and row is own[0]:
            # Below this line: ratios of one Cargohold against itself, not against distribution.
            out.append(
                f'<line x1="16" y1="{y}" x2="{WIDTH - 16}" y2="{y}" stroke="#999" '
                'stroke-dasharray="2,3"/>'
            )
        out.append(f'<text x="{LABEL_W}" y="{mid + 4:.1f}" text-anchor="end">{label}</text>')
        ratio = row.ratio
        if ratio is None:
            out.append(f'<text x="{x(1) + 6:.1f}" y="{mid + 4:.1f}" fill="{GREY}">n/a</text>')
            continue
        colour = {True: GREEN, False: RED, None: GREY}[row.met]
        x1, x2 = sorted((x(1.0), x(ratio)))
        out.append(
            f'<rect x="{x1:.1f}" y="{y + 9}" width="{max(x2 - x1, 1):.1f}" '
            f'height="{ROW_H - 18}" fill="{colour}" opacity="0.85"/>'
        )
        # The value sits right of the bar's far end, or right of 1x for bars that go left.
        tx = x2 + 5
        out.append(f'<text x="{tx:.1f}" y="{mid + 4:.1f}" font-weight="bold">{ratio:.2f}x</text>')
        target = row.ratio_target
        if target is not None:
            tgx = x(target)
            out.append(
                f'<line x1="{tgx:.1f}" y1="{y + 3}" x2="{tgx:.1f}" y2="{y + ROW_H - 3}" '
                'stroke="#000" stroke-width="2.5" stroke-dasharray="4,2"/>'
            )
    legend_y = bottom + 40
    out.append(
        f'<line x1="16" y1="{legend_y - 4}" x2="16" y2="{legend_y + 8}" stroke="#000" '
        'stroke-width="2.5" stroke-dasharray="4,2"/>'
    )
    out.append(
        f'<text x="24" y="{legend_y + 6}" fill="#333">target (for RSS: the ratio at which '
        f"Cargohold would use {RSS_LIMIT_MIB:g} MiB); reads: also the share of nginx's sendfile"
        " in the table</text>"
    )
    out.append(
        f'<text x="16" y="{legend_y + 26}" fill="#333">green: target met; red: missed; '
        "grey: no target. Log scale; bars start at 1x (parity).</text>"
    )
    if own:
        out.append(
            f'<text x="16" y="{legend_y + 46}" fill="#333">Below the dotted line: Cargohold '
            "only, one request variant against another (the label says which).</text>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"
