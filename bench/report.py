"""Results of the suite: one `Result` per benchmark, rendered as a rich table and as JSON."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class Figure:
    """One measured quantity of ours next to its reference (None where there is none)."""

    metric: str
    ours: float
    reference: float | None = None
    unit: str = ""
    #: ours ÷ reference (the target says which way is better)
    ratio: float | None = None


@dataclass
class Result:
    name: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    target: str = ""
    met: bool | None = None  # None: no target, or could not be measured
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def add(
        self, metric: str, ours: float, reference: float | None = None, unit: str = ""
    ) -> Figure:
        ratio = ours / reference if reference else None
        figure = Figure(metric, ours, reference, unit, ratio)
        self.figures.append(figure)
        return figure


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def render(results: list[Result], console: Console) -> None:
    table = Table(title="ektp-sync benchmarks (ratio = ours ÷ reference)", show_lines=True)
    for column in ("bench", "metric", "ours", "reference", "ratio", "target", "met"):
        table.add_column(
            column,
            justify="right" if column in ("ours", "reference", "ratio") else "left",
            no_wrap=column in ("ours", "reference", "ratio", "met"),
            max_width=24 if column == "target" else None,
        )
    for result in results:
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: "–"}[result.met]
        for i, f in enumerate(result.figures):
            table.add_row(
                result.name if i == 0 else "",
                f"{f.metric} [{f.unit}]" if f.unit else f.metric,
                _fmt(f.ours),
                _fmt(f.reference),
                f"{f.ratio:.2f}×" if f.ratio is not None else "–",
                result.target if i == 0 else "",
                met if i == 0 else "",
            )
    console.print(table)
    for result in results:
        for note in result.notes:
            console.print(f"[dim]{result.name}: {note}[/]")


def write_json(results: list[Result], path: Path, quick: bool, seconds: float) -> None:
    document = {
        "quick": quick,
        "seconds": round(seconds, 1),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": len(os.sched_getaffinity(0)),
            "load_average": os.getloadavg(),
        },
        "results": [asdict(r) for r in results],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
