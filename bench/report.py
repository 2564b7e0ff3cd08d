"""Ratios, targets, the printed table and the JSON record."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.figures import Measurement, Results

CARGO, DIST = "cargohold", "distribution"
RSS_LIMIT_MIB = 120.0


@dataclass(frozen=True)
class Spec:
    key: str
    label: str
    higher_is_better: bool
    ratio_target: float | None = None  # met when ratio >= this
    max_cargohold: float | None = None  # met when cargohold's value < this

    @property
    def target_text(self) -> str:
        if self.ratio_target is not None:
            return f">= {self.ratio_target:g}x"
        if self.max_cargohold is not None:
            return f"< {self.max_cargohold:g} MiB"
        return "-"


def specs(size_label: str, small_layers: int) -> list[Spec]:
    return [
        Spec("push_big", f"Push {size_label} layer (monolithic)", True, ratio_target=1.0),
        Spec("pull_big", f"Pull {size_label} layer", True, ratio_target=1.0),
        Spec("push_small", f"Push {small_layers} small layers (skopeo)", False, ratio_target=1.0),
        Spec("manifest_rps", "Manifest GET, 32 connections", True, ratio_target=3.0),
        Spec("blob_get", "Blob GET 64 MiB, 4 connections", True, ratio_target=1.0),
        Spec("rss_push", f"Peak RSS during {size_label} push", False, max_cargohold=RSS_LIMIT_MIB),
        Spec("rss_peak", "Peak RSS over the whole run", False),
    ]


@dataclass
class Row:
    spec: Spec
    cargohold: Measurement | None
    distribution: Measurement | None

    @property
    def ratio(self) -> float | None:
        """Oriented so that > 1 means Cargohold is better."""
        if self.cargohold is None or self.distribution is None:
            return None
        c, d = self.cargohold.value, self.distribution.value
        if c <= 0 or d <= 0:
            return None
        return c / d if self.spec.higher_is_better else d / c

    @property
    def ratio_target(self) -> float | None:
        """The target expressed as a ratio (for the chart)."""
        if self.spec.ratio_target is not None:
            return self.spec.ratio_target
        if self.spec.max_cargohold is not None and self.distribution is not None:
            return self.distribution.value / self.spec.max_cargohold
        return None

    @property
    def met(self) -> bool | None:
        if self.spec.ratio_target is not None:
            ratio = self.ratio
            return None if ratio is None else ratio >= self.spec.ratio_target
        if self.spec.max_cargohold is not None and self.cargohold is not None:
            return self.cargohold.value < self.spec.max_cargohold
        return None


def rows(results: Results, all_specs: list[Spec]) -> list[Row]:
    out = []
    for spec in all_specs:
        per = results.get(spec.key, {})
        out.append(Row(spec, per.get(CARGO), per.get(DIST)))
    return out


def fmt_value(m: Measurement | None) -> str:
    if m is None:
        return "-"
    if m.unit == "MiB/s" and "seconds" in m.detail:
        return f"{m.value:,.0f} MiB/s ({m.detail['seconds']:.2f} s)"
    if m.unit == "s":
        return f"{m.value:.2f} s"
    if m.unit == "req/s":
        return f"{m.value:,.0f} req/s"
    return f"{m.value:,.1f} {m.unit}" if m.value < 100 else f"{m.value:,.0f} {m.unit}"


def fmt_met(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "-"}[met]


def table(all_rows: list[Row]) -> str:
    """A Markdown table (also readable as plain text)."""
    head = ["Figure", "Cargohold", "distribution", "Ratio (>1 = Cargohold better)", "Target", ""]
    body = []
    for r in all_rows:
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
        body.append(
            [
                r.spec.label,
                fmt_value(r.cargohold),
                fmt_value(r.distribution),
                ratio,
                r.spec.target_text,
                fmt_met(r.met),
            ]
        )
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), sep, *(line(b) for b in body)])


def to_json(all_rows: list[Row], meta: dict[str, Any]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for r in all_rows:
        figures[r.spec.key] = {
            "label": r.spec.label,
            "higher_is_better": r.spec.higher_is_better,
            "target": r.spec.target_text,
            "ratio": r.ratio,
            "met": r.met,
            "servers": {
                name: asdict(m)
                for name, m in ((CARGO, r.cargohold), (DIST, r.distribution))
                if m is not None
            },
        }
    return {"meta": meta, "figures": figures}


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
