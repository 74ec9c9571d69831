"""Circuit breaker for the link to the centre: when it fails, probe once per interval.

Without it, a backlog of thousands of records would keep every in-flight slot busy sending
batches into a dead link. With it, once `threshold` exchanges in a row have failed, only one
small probe passes per interval; the first answer closes the breaker and the queue drains at
full speed again. Backoff therefore lives at the link, not in each record: records that never
left the office while the breaker was open are still due when the link comes back.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class BreakerState(enum.StrEnum):
    CLOSED = "closed"  # requests flow
    OPEN = "open"  # nothing passes until the next probe is due
    HALF_OPEN = "half_open"  # one probe is out; its outcome decides


class CircuitBreaker:
    """Shared by the pusher and the puller, so the two never probe a dead centre twice."""

    def __init__(
        self,
        threshold: int,
        probe_interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = max(1, threshold)
        self.probe_interval = probe_interval
        self._clock = clock
        self.state = BreakerState.CLOSED
        self._failures = 0
        self._probe_at = 0.0
        self._listeners: list[Callable[[], None]] = []

    def on_close(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever the breaker closes (e.g. to wake an idle pusher)."""
        self._listeners.append(listener)

    def admit(self) -> bool:
        """May a request go now? In the open state the first caller after the wait probes."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN and self._clock() >= self._probe_at:
            self.state = BreakerState.HALF_OPEN
            return True
        return False

    @property
    def probing(self) -> bool:
        return self.state is BreakerState.HALF_OPEN

    def seconds_to_probe(self) -> float:
        """How long until a request may pass (0 when closed).

        While a probe is out nothing may pass until its outcome: waiters sleep a whole interval
        (the close wakes them through `on_close`) instead of spinning on a zero wait.
        """
        if self.state is BreakerState.CLOSED:
            return 0.0
        if self.state is BreakerState.HALF_OPEN:
            return self.probe_interval
        return max(0.0, self._probe_at - self._clock())

    def succeeded(self) -> None:
        self._failures = 0
        if self.state is BreakerState.CLOSED:
            return
        # the outage log (outages.py) says it once, with the outage's duration
        logger.debug("centre answers again: circuit closed, sending at full speed")
        self.state = BreakerState.CLOSED
        for listener in self._listeners:
            listener()

    def failed(self, wait: float | None = None) -> None:
        """A failed exchange; `wait` (the centre's Retry-After) opens the breaker at once."""
        self._failures += 1
        if wait is None and self.state is BreakerState.CLOSED and self._failures < self.threshold:
            return
        if self.state is BreakerState.CLOSED:
            logger.debug(
                "circuit open after %d failed exchanges: one probe every %gs",
                self._failures,
                self.probe_interval,
            )
        self.state = BreakerState.OPEN
        self._probe_at = self._clock() + (self.probe_interval if wait is None else wait)

    def unused_probe(self) -> None:
        """The admitted probe found nothing to send: let the next request probe at once."""
        if self.state is BreakerState.HALF_OPEN:
            self.state = BreakerState.OPEN
            self._probe_at = self._clock()
