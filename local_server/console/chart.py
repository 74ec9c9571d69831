"""The link page's throughput chart as inline SVG, drawn on the server (no script, no asset)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from local_server.console.formats import Formats

WIDTH, HEIGHT = 720, 180
#: room for the axis labels
LEFT, BOTTOM, TOP = 70, 22, 8


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    labels: list[Label]
    baseline: float
    left: float


def throughput_chart(rates: list[float], end: dt.datetime, span: dt.timedelta, f: Formats) -> Chart:
    """Bars of `rates` (bytes per second, oldest first) over the `span` ending at `end`."""
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - BOTTOM - TOP
    top = max(rates, default=0.0) or 1.0
    slot = plot_w / max(1, len(rates))
    step = span / max(1, len(rates))
    baseline = TOP + plot_h
    bars = []
    for index, rate in enumerate(rates):
        height = plot_h * rate / top
        start = end - span + index * step
        bars.append(
            Bar(
                x=LEFT + index * slot + slot * 0.1,
                y=baseline - height,
                width=slot * 0.8,
                height=height,
                title=f"{f.clock(start)}: {f.rate(rate)}",
            )
        )
    labels = [
        Label(LEFT - 6, TOP + 10, f.rate(top if max(rates, default=0.0) else 0.0), "end"),
        Label(LEFT - 6, baseline, f.rate(0.0), "end"),
    ]
    for fraction in (0.0, 0.5, 1.0):
        at = end - span + span * fraction
        x = LEFT + plot_w * fraction
        anchor = "start" if fraction == 0.0 else "end" if fraction == 1.0 else "middle"
        labels.append(Label(x, HEIGHT - 6, f.clock(at)[:5], anchor))
    return Chart(WIDTH, HEIGHT, bars, labels, baseline, LEFT)
