"""Link-level state shared by connections: rate pacing and the outage (rain-fade) schedule."""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass

SLACK = 0.02  # seconds of link time a late wake-up may reclaim


class Pacer:
    """Serialises bytes onto a link of `rate` bytes/s with a virtual clock.

    Every caller reserves the link for len/rate seconds after the previous reservation, so the
    long-run rate is exact whatever the sleep granularity, and several connections sharing one
    pacer split it in arrival order (near round-robin, because each reserves one slice at a time).
    Idle time beyond SLACK earns no credit, so there is no burst after a pause.
    """

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._next_free = 0.0

    def slice_size(self) -> int:
        # Slices of ~20 ms keep the shared link fair and the delivery smooth at any rate.
        return max(256, int(self.rate / 50))

    async def send(self, size: int) -> None:
        if self.rate <= 0:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        # A sleep wakes a little late; without slack every slice would lose that overshoot
        # and the rate would drift low by a few percent. Longer idle time still earns nothing.
        start = self._next_free if now <= self._next_free + SLACK else now
        self._next_free = start + size / self.rate
        delay = self._next_free - now
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass(frozen=True)
class Window:
    """One outage: the link is down from `start` to `end` (loop time, seconds)."""

    start: float
    end: float


class OutageSchedule:
    """Outages every `period` s lasting `duration` s, each start and length moved by ±`jitter` s.

    Windows are drawn one after another from a seeded random.Random, so the same seed gives the
    same schedule. period 0 means a single outage at `first`; duration 0 then means forever.
    """

    def __init__(
        self,
        origin: float,
        period: float,
        duration: float,
        jitter: float,
        first: float,
        rng: random.Random,
    ) -> None:
        self.origin = origin
        self.period = period
        self.duration = duration
        self.jitter = jitter
        self.first = first
        self._rng = rng
        self._windows: list[Window] = []

    def window(self, index: int) -> Window:
        """The index-th outage window (0-based); drawn lazily and then fixed."""
        while len(self._windows) <= index:
            self._windows.append(self._draw(len(self._windows)))
        return self._windows[index]

    def _draw(self, index: int) -> Window:
        if self.period <= 0:
            if index > 0:
                return Window(math.inf, math.inf)
            end = math.inf if self.duration <= 0 else self.origin + self.first + self.duration
            return Window(self.origin + self.first, end)
        nominal = self.origin + self.first + index * self.period
        # Jitter only delays a start (never earlier than nominal) and stretches or shortens the
        # length; both are clipped to the window's own period so windows never overlap.
        shift = self._rng.uniform(0.0, self.jitter) if self.jitter else 0.0
        length = self.duration + (
            self._rng.uniform(-self.jitter, self.jitter) if self.jitter else 0.0
        )
        start = nominal + min(shift, self.period * 0.5)
        length = min(max(length, 0.0), nominal + self.period - start)
        return Window(start, start + length)

    def state(self, now: float) -> tuple[bool, float]:
        """(down now?, time of the next change) — walks at most a few windows forward."""
        index = (
            0 if self.period <= 0 else max(0, int((now - self.origin - self.first) // self.period))
        )
        for _ in range(3):
            win = self.window(index)
            if now < win.start:
                return False, win.start
            if now < win.end:
                return True, win.end
            index += 1
            if self.period <= 0:
                return False, math.inf
        return False, self.window(index).start
