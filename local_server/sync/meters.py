"""What the link measures besides its rate (sizing.py): the round trip, and counts of exchanges
for /metrics. Kept in memory: counters start at zero with the process, as Prometheus expects."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from local_server.errors import (
    BatchTooLarge,
    CentreAuthRefused,
    CentreBusy,
    CentreExchangeError,
    CentreProtocolError,
    CentreUnreachable,
)

#: exchanges whose round trip the windowed minimum looks back over
ROUND_TRIP_WINDOW = 16


@dataclass
class RoundTrips:
    """The link's round trip: the smallest of the last few exchanges that were not held.

    A windowed minimum, as TCP keeps its min_rtt: an answer the centre held (the decisions long
    poll) or delayed while it worked only ever makes a sample larger, so the smallest recent one
    is the closest to the wire's own delay.
    """

    window: int = ROUND_TRIP_WINDOW
    _samples: deque[float] = field(default_factory=deque)

    def observe(self, seconds: float) -> None:
        if seconds <= 0:
            return
        self._samples.append(seconds)
        while len(self._samples) > self.window:
            self._samples.popleft()

    @property
    def seconds(self) -> float | None:
        return min(self._samples) if self._samples else None


def failure_kind(error: BaseException) -> str:
    """The label of a failed exchange in `ektp_link_failures_total{kind}`."""
    if isinstance(error, CentreUnreachable):
        return "unreachable"
    if isinstance(error, CentreBusy):
        return "busy"
    if isinstance(error, CentreAuthRefused):
        return "auth"
    if isinstance(error, BatchTooLarge):
        return "too_large"
    if isinstance(error, CentreProtocolError):
        return "protocol"
    if isinstance(error, CentreExchangeError):
        return "status"
    return "internal"


@dataclass
class ExchangeCounts:
    """Records offered to the centre (each try of each record), and failed exchanges by kind."""

    upload_attempts: int = 0
    failures: Counter[str] = field(default_factory=Counter)
