"""The link's throughput over time, for the console's chart: bytes acknowledged per minute.

Kept in memory (a day of one-minute buckets at most, a few KB), so the chart covers the time
since the node started; the outages, which an operator is asked about days later, are kept in
the database instead (`store/outages.py`).
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from dataclasses import dataclass, field

#: one bucket per minute
BUCKET = dt.timedelta(minutes=1)
#: buckets kept: a day
KEPT = 24 * 60


def _minute(at: dt.datetime) -> dt.datetime:
    return at.replace(second=0, microsecond=0)


@dataclass
class ThroughputSeries:
    """Record bytes the centre acknowledged, summed per minute of the answer (UTC)."""

    _buckets: OrderedDict[dt.datetime, int] = field(default_factory=OrderedDict)

    def add(self, at: dt.datetime, size: int) -> None:
        key = _minute(at)
        self._buckets[key] = self._buckets.get(key, 0) + size
        while len(self._buckets) > KEPT:
            self._buckets.popitem(last=False)

    def rates(self, end: dt.datetime, span: dt.timedelta, bars: int) -> list[float]:
        """Mean bytes per second in each of `bars` equal slices of (end − span, end], oldest
        first (0 where nothing was acknowledged)."""
        start = end - span
        width = span / bars
        totals = [0] * bars
        for minute, size in self._buckets.items():
            if start <= minute <= end:
                index = min(bars - 1, int((minute - start) / width))
                totals[index] += size
        seconds = width.total_seconds()
        return [total / seconds for total in totals]
