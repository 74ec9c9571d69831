"""The soak's two sources of trouble: a misbehaving WAN and crashing processes, both seeded.

`NetworkChaos` drives the network simulator's API: one fault at a time (connection resets,
latency spikes, black-holed responses, outages), each held for a random while, then removed.
`Crasher` SIGKILLs the office node and the centre when the workload's progress passes seeded
thresholds, so the crashes land while records are still being posted and synced, and tells
the workload when the office is answering again.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from ektp_sync.launch import Deployment
from ektp_sync.netsim import NetSimClient

PROXY = "wan"  # the proxy `ektp-sync netsim --listen` creates


@dataclass(frozen=True)
class Toxic:
    type: str
    stream: str
    attributes: dict[str, int]
    toxicity: float = 1.0


@dataclass(frozen=True)
class Fault:
    """One network fault: how to switch it on (toxic or link down) and for how long."""

    kind: str
    hold: float
    toxic: Toxic | None = None  # None: the link goes down (outage)


def draw_fault(rng: random.Random) -> Fault:
    """A random fault of the kinds the issue names, plus the lost-response case."""
    kind = rng.choice(["reset", "latency_spike", "lost_responses", "outage"])
    hold = rng.uniform(0.5, 4.0)
    if kind == "reset":
        # a share (toxicity) of the connections carrying data meanwhile are reset (RST)
        toxicity = rng.uniform(0.3, 1.0)
        toxic = Toxic("reset_peer", "upstream", {"timeout": rng.randint(0, 300)}, toxicity)
        return Fault(kind, hold, toxic)
    if kind == "latency_spike":
        latency = rng.randint(800, 4000)
        toxic = Toxic("latency", "downstream", {"latency": latency, "jitter": latency // 4})
        return Fault(kind, hold, toxic)
    if kind == "lost_responses":
        # requests reach the centre and commit there; their answers vanish (black hole
        # until the toxic is removed, which closes the connection): the retry must not double
        return Fault(kind, hold, Toxic("timeout", "downstream", {"timeout": 0}))
    return Fault("outage", rng.uniform(1.0, 5.0))


@dataclass
class NetworkChaos:
    """Applies seeded faults one after another until stopped; counts what it did."""

    api_url: str
    rng: random.Random
    applied: Counter[str] = field(default_factory=Counter)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        async with NetSimClient(self.api_url) as link:
            while not self._stop.is_set():
                await self._pause(self.rng.uniform(0.5, 3.0))
                if self._stop.is_set():
                    return
                await self._apply(link, draw_fault(self.rng))

    def stop(self) -> None:
        self._stop.set()

    async def _pause(self, seconds: float) -> None:
        # the gap between faults is the schedule's input; stop() cuts it short
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stop.wait()

    async def _apply(self, link: NetSimClient, fault: Fault) -> None:
        self.applied[fault.kind] += 1
        if fault.toxic is None:
            await link.set_enabled(PROXY, False)
            try:
                await self._pause(fault.hold)
            finally:
                await link.set_enabled(PROXY, True)
            return
        name = f"chaos.{fault.kind}"
        toxic = fault.toxic
        await link.add_toxic(
            PROXY, toxic.type, toxic.stream, name, toxic.toxicity, dict(toxic.attributes)
        )
        try:
            await self._pause(fault.hold)
        finally:
            await link.remove_toxic(PROXY, name)


@dataclass(frozen=True)
class Crash:
    at_progress: int  # fire once the workload's progress reaches this
    target: str  # "office" or "centre"
    down_for: float  # seconds the process stays dead


def crash_schedule(
    rng: random.Random, total_progress: int, office_kills: int, centre_restarts: int
) -> list[Crash]:
    """Seeded crash moments spread over the run (never at its very start or end)."""
    crashes = [
        Crash(int(rng.uniform(0.03, 0.9) * total_progress), "office", rng.uniform(0.0, 1.5))
        for _ in range(office_kills)
    ]
    crashes += [
        Crash(int(rng.uniform(0.1, 0.8) * total_progress), "centre", rng.uniform(1.0, 4.0))
        for _ in range(centre_restarts)
    ]
    return sorted(crashes, key=lambda c: c.at_progress)


@dataclass
class Crasher:
    """Fires the crash schedule as progress passes it; `office_up` is set while it answers."""

    deployment: Deployment
    schedule: list[Crash]
    progress: Callable[[], Awaitable[int]]
    office: str = "6172"
    office_kills: int = 0
    centre_restarts: int = 0
    log: list[str] = field(default_factory=list)
    office_up: asyncio.Event = field(default_factory=asyncio.Event)
    centre_up: asyncio.Event = field(default_factory=asyncio.Event)
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.office_up.set()
        self.centre_up.set()

    @property
    def done(self) -> bool:
        return not self.schedule

    async def run(self, poll: float = 0.25) -> None:
        while self.schedule:
            try:
                reached = await self.progress()
            except httpx.HTTPError:
                reached = -1  # the office is busy restarting or slow; look again
            while self.schedule and reached >= self.schedule[0].at_progress:
                await self._fire(self.schedule.pop(0), reached)
            await asyncio.sleep(poll)

    async def _fire(self, crash: Crash, reached: int) -> None:
        at = time.monotonic() - self.started
        if crash.target == "office":
            process, up = self.deployment.locals[self.office], self.office_up
            self.office_kills += 1
        else:
            process, up = self.deployment.central, self.centre_up
            self.centre_restarts += 1
        self.log.append(
            f"{at:6.1f}s progress {reached}: SIGKILL {crash.target}, down {crash.down_for:.1f}s"
        )
        up.clear()  # before the kill: whoever sees a failure from now on waits for the restart
        try:
            await process.restart(down_for=crash.down_for, hard=True)
        finally:
            up.set()
