"""What the link measures for operators: its throughput, its round trip, and counts of exchanges
for /metrics. Kept in memory: counters start at zero with the process, as Prometheus expects."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
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
#: acknowledged uploads the throughput looks back over
THROUGHPUT_WINDOW = 16


@dataclass
class Throughput:
    """How fast records leave over the link: record bytes per second, estimated as BBR estimates
    a path's bandwidth.

    Each acknowledged upload gives a sample: the bytes the centre acknowledged while it
    travelled, its own and those of the uploads answered meanwhile, over the time from the
    earliest of their departures to its answer (counting from its own departure would credit it
    with bytes that crossed the link before it left). So uploads travelling together are counted
    together, and the round trip and the centre's intake time are in it. The rate is the largest
    of the last samples: a small upload on an otherwise idle link is bound by the round trip and
    the connection's slow start, not by the link, and reads it low; the largest recent sample is
    the closest to what the link carries when there is a backlog to carry. A lower rate (rain
    fade) replaces the old one after `window` uploads.
    """

    window: int = THROUGHPUT_WINDOW
    clock: Callable[[], float] = time.monotonic
    #: (answered at, bytes, sent at) of the last acknowledged uploads, oldest first
    _history: deque[tuple[float, int, float]] = field(default_factory=deque)
    _samples: deque[float] = field(default_factory=deque)
    #: uploads travelling now: key → (bytes, when sent)
    _travelling: dict[int, tuple[int, float]] = field(default_factory=dict)
    _next_key: int = 0

    def sent(self, size: int) -> int:
        """An upload of `size` bytes left; returns its key for `answered`."""
        self._next_key += 1
        self._travelling[self._next_key] = (size, self.clock())
        return self._next_key

    def answered(self, key: int) -> None:
        """The upload `key` is no longer travelling (acknowledged or not)."""
        self._travelling.pop(key, None)

    def gone_up(self) -> int:
        """Bytes of the uploads still travelling that have probably crossed the link already:
        each has had its share of the rate since it was sent. What is counted as waiting (the
        queue) still holds them until their answer comes."""
        rate = self.rate
        if not rate or not self._travelling:
            return 0
        now, share = self.clock(), rate / len(self._travelling)
        return int(sum(min(size, (now - at) * share) for size, at in self._travelling.values()))

    def acknowledged(self, sent_bytes: int, seconds: float) -> None:
        """An upload of `sent_bytes` was answered `seconds` after it was sent."""
        if sent_bytes <= 0 or seconds <= 0:
            return
        now = self.clock()
        sent_at = now - seconds
        self._history.append((now, sent_bytes, sent_at))
        while len(self._history) > 4 * self.window:
            self._history.popleft()
        # this upload and those answered while it travelled
        meanwhile = [(size, left) for answered, size, left in self._history if answered > sent_at]
        earliest = min(left for _, left in meanwhile)
        self._samples.append(sum(size for size, _ in meanwhile) / (now - earliest))
        while len(self._samples) > self.window:
            self._samples.popleft()

    @property
    def rate(self) -> float | None:
        return max(self._samples) if self._samples else None


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
