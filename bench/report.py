"""Ratios, targets, the printed table and the JSON record."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.figures import LOADED_PUSHERS, Measurement, Results

CARGO, DIST, LIMIT = "cargohold", "distribution", "limit"
ACCEL = "accel"  # Cargohold behind nginx with X-Accel-Redirect (bench/accel.py)
ACCEL_LABEL = "behind nginx (X-Accel-Redirect)"
RSS_LIMIT_MIB = 60.0


@dataclass(frozen=True)
class Spec:
    key: str
    label: str
    higher_is_better: bool
    ratio_target: float | None = None  # met when ratio >= this
    max_cargohold: float | None = None  # met when cargohold's value < this
    # Cargohold-only figures: the row's value is this variant, compared with ``baseline``,
    # another variant of the same figure (both recorded under the figure's key).
    variant: str | None = None
    baseline: str | None = None
    # Read figures: also met only when Cargohold reaches this share of the limit (nginx
    # serving the same file with sendfile, bench/limit.py), when the limit was measured.
    limit_target: float | None = None
    # Whose measurement is the row's Cargohold cell: Cargohold itself, or (the accel rows,
    # present only when measured) Cargohold behind nginx.
    server: str = CARGO

    @property
    def cargohold_only(self) -> bool:
        return self.baseline is not None

    @property
    def target_text(self) -> str:
        if self.ratio_target is not None and self.limit_target is not None:
            return f">= {self.ratio_target:g}x, >= {self.limit_target:g}x limit"
        if self.ratio_target is not None:
            return f">= {self.ratio_target:g}x"
        if self.max_cargohold is not None:
            return f"< {self.max_cargohold:g} MiB"
        return "-"


def specs(size_label: str, small_layers: int) -> list[Spec]:
    return [
        Spec("push_big", f"Push {size_label} layer (monolithic)", True, ratio_target=2.0),
        Spec("pull_big", f"Pull {size_label} layer", True, ratio_target=1.1, limit_target=0.9),
        Spec("pull_big", f"Pull {size_label} layer, {ACCEL_LABEL}", True, server=ACCEL),
        Spec("push_small", f"Push {small_layers} small layers (skopeo)", False, ratio_target=2.0),
        Spec("push_small_cpu", f"Server CPU for the {small_layers}-layer push", False),
        Spec("manifest_rps", "Manifest GET, 32 connections", True, ratio_target=8.0),
        Spec(
            "blob_get",
            "Blob GET 64 MiB, 4 connections",
            True,
            ratio_target=1.1,
            limit_target=0.9,
        ),
        Spec("blob_get", f"Blob GET 64 MiB, 4 connections, {ACCEL_LABEL}", True, server=ACCEL),
        Spec(
            "manifest_p99_push",
            f"Manifest GET p99 while {LOADED_PUSHERS} clients push {size_label} layers",
            False,
        ),
        Spec("rss_push", f"Peak RSS during {size_label} push", False, max_cargohold=RSS_LIMIT_MIB),
        Spec("rss_peak", "Peak RSS over the whole run", False),
        # Cargohold-only rows come last (the chart sets them apart).
        Spec(
            "bearer_manifest_rps",
            "Manifest GET, bearer ÷ anonymous (Cargohold-only)",
            True,
            ratio_target=0.8,
            variant="bearer",
            baseline="anonymous",
        ),
        Spec(
            "anonymous_manifest_rps",
            "Manifest GET, anonymous (auth on, public package) ÷ auth none (Cargohold-only)",
            True,
            ratio_target=0.9,
            variant="anonymous",
            baseline="none",
        ),
        Spec(
            "metrics_manifest_rps",
            "Manifest GET, metrics on ÷ off (Cargohold-only)",
            True,
            ratio_target=0.9,
            variant="on",
            baseline="off",
        ),
    ]


@dataclass
class Row:
    spec: Spec
    cargohold: Measurement | None
    distribution: Measurement | None
    baseline: Measurement | None = None  # Cargohold-only figures: what ``cargohold`` is ÷ by
    limit: Measurement | None = None  # read figures: nginx serving the same file

    @property
    def limit_ratio(self) -> float | None:
        """Cargohold ÷ the limit (read figures, when the limit was measured)."""
        if self.cargohold is None or self.limit is None or self.limit.value <= 0:
            return None
        return self.cargohold.value / self.limit.value

    @property
    def ratio(self) -> float | None:
        """Oriented so that > 1 means Cargohold is better (Cargohold-only figures: that the
        variant is better than the baseline)."""
        other = self.baseline if self.spec.cargohold_only else self.distribution
        if self.cargohold is None or other is None:
            return None
        c, d = self.cargohold.value, other.value
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
            if ratio is None:
                return None
            near = self.limit_ratio
            if self.spec.limit_target is not None and near is not None:
                return ratio >= self.spec.ratio_target and near >= self.spec.limit_target
            return ratio >= self.spec.ratio_target
        if self.spec.max_cargohold is not None and self.cargohold is not None:
            return self.cargohold.value < self.spec.max_cargohold
        return None


def rows(results: Results, all_specs: list[Spec]) -> list[Row]:
    out = []
    for spec in all_specs:
        per = results.get(spec.key, {})
        if spec.cargohold_only:
            assert spec.variant is not None and spec.baseline is not None
            out.append(Row(spec, per.get(spec.variant), None, per.get(spec.baseline)))
        elif spec.server == CARGO or spec.server in per:
            out.append(Row(spec, per.get(spec.server), per.get(DIST), limit=per.get(LIMIT)))
    return out


def fmt_value(m: Measurement | None) -> str:
    if m is None:
        return "-"
    if m.unit == "MiB/s" and "seconds" in m.detail:
        return f"{m.value:,.0f} MiB/s ({m.detail['seconds']:.2f} s)"
    if m.unit == "s" and "client_cpu_seconds" in m.detail:
        return f"{m.value:.2f} s (skopeo {m.detail['client_cpu_seconds']:.2f} s)"
    if m.unit == "s":
        return f"{m.value:.2f} s"
    if m.unit == "req/s":
        return f"{m.value:,.0f} req/s"
    return f"{m.value:,.1f} {m.unit}" if m.value < 100 else f"{m.value:,.0f} {m.unit}"


def fmt_cargohold(r: Row) -> str:
    """The Cargohold cell; for a Cargohold-only figure, "variant ÷ baseline"."""
    m, b = r.cargohold, r.baseline
    if not r.spec.cargohold_only or m is None or b is None:
        return fmt_value(m)
    if m.unit == "req/s":
        return f"{m.value:,.0f} ÷ {b.value:,.0f} req/s"
    return f"{m.value:,.1f} ÷ {b.value:,.1f} {m.unit}"


def fmt_met(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "-"}[met]


def table(all_rows: list[Row]) -> str:
    """A Markdown table (also readable as plain text)."""
    head = [
        "Figure",
        "Cargohold",
        "distribution",
        "Ratio (>1 = Cargohold better)",
        "limit (Cargohold ÷ limit)",
        "Target",
        "",
    ]
    body = []
    for r in all_rows:
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
        near = "-"
        if r.limit is not None:
            near = fmt_value(r.limit)
            if r.limit_ratio is not None:
                near += f" ({r.limit_ratio:.2f}x)"
        body.append(
            [
                r.spec.label,
                fmt_cargohold(r),
                "n/a" if r.spec.cargohold_only else fmt_value(r.distribution),
                ratio,
                near,
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
        figure: dict[str, Any] = {
            "label": r.spec.label,
            "higher_is_better": r.spec.higher_is_better,
            "target": r.spec.target_text,
            "ratio": r.ratio,
            "met": r.met,
        }
        if r.spec.cargohold_only:
            # One server, two variants of the request; the ratio is variant ÷ baseline.
            figure["cargohold_only"] = True
            figure["ratio_of"] = f"{r.spec.variant} / {r.spec.baseline}"
            pairs = ((r.spec.variant, r.cargohold), (r.spec.baseline, r.baseline))
            figure["variants"] = {name: asdict(m) for name, m in pairs if m is not None}
        else:
            servers = ((r.spec.server, r.cargohold), (DIST, r.distribution), (LIMIT, r.limit))
            figure["servers"] = {name: asdict(m) for name, m in servers if m is not None}
            if r.limit_ratio is not None:
                figure["limit_ratio"] = r.limit_ratio
        figures[r.spec.key if r.spec.server == CARGO else f"{r.spec.key}_{r.spec.server}"] = figure
    return {"meta": meta, "figures": figures}


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


# --scale-out: the same figures on PostgreSQL + S3, beside the embedded default.
EMBEDDED = "embedded (SQLite + filesystem)"


def scale_out_specs(size_label: str) -> list[Spec]:
    keys = ("push_big", "pull_big", "manifest_rps", "blob_get")
    return [s for s in specs(size_label, 0) if s.key in keys and s.server == CARGO]


def scale_out_table(results: Results, all_specs: list[Spec], names: list[str]) -> str:
    """Figure | embedded | each scale-out deployment (its ÷ embedded in brackets)."""
    head = ["Figure", EMBEDDED, *names]
    body = []
    for spec in all_specs:
        per = results.get(spec.key, {})
        base = per.get(CARGO)
        cells = [spec.label, fmt_value(base)]
        for name in names:
            m = per.get(name)
            cell = fmt_value(m)
            if m is not None and base is not None and base.value > 0:
                cell += f" [{m.value / base.value:.2f}x]"
            cells.append(cell)
        body.append(cells)
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), sep, *(line(b) for b in body)])


def scale_out_json(results: Results, all_specs: list[Spec], names: list[str]) -> dict[str, Any]:
    """Per figure: the embedded Cargohold and each deployment, with deployment ÷ embedded."""
    out: dict[str, Any] = {}
    for spec in all_specs:
        per = results.get(spec.key, {})
        base = per.get(CARGO)
        entry: dict[str, Any] = {"label": spec.label, "higher_is_better": spec.higher_is_better}
        entry["embedded"] = None if base is None else asdict(base)
        for name in names:
            m = per.get(name)
            entry[name] = None if m is None else asdict(m)
            ratio = None
            if m is not None and base is not None and base.value > 0:
                ratio = m.value / base.value
            entry[f"{name}_vs_embedded"] = ratio
        out[spec.key] = entry
    return out
