"""Runtime toxics: shared per-toxic state (link pacer, outage schedule) and per-connection stubs."""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass

from ektp_sync.netsim.link import OutageSchedule, Pacer
from ektp_sync.netsim.model import ToxicSpec

KB = 1000  # Toxiproxy's `rate` unit is KB/s with KB = 1000 bytes.


class Toxic:
    """A toxic installed on a proxy. State here is shared by every connection through it."""

    def __init__(self, spec: ToxicSpec, seed: str, serial: int) -> None:
        self.spec = spec
        self.seed = f"{seed}:{spec.name}:{serial}"
        self.created = asyncio.get_running_loop().time()
        self.link_pacer: Pacer | None = None
        self.schedule: OutageSchedule | None = None
        self.refresh()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> str:
        return self.spec.type

    def refresh(self) -> None:
        """Rebuild shared state after the attributes changed (API update)."""
        if self.kind == "link_bandwidth":
            rate = self.spec.number("rate") * KB
            if self.link_pacer is None:
                self.link_pacer = Pacer(rate)
            self.link_pacer.rate = rate
        if self.kind == "outage":
            ms = self.spec.number
            self.schedule = OutageSchedule(
                origin=self.created,
                period=ms("period") / 1000,
                duration=ms("duration") / 1000,
                jitter=ms("jitter") / 1000,
                first=ms("start") / 1000,
                rng=random.Random(self.seed),
            )

    def outage_state(self, now: float) -> tuple[bool, float]:
        if self.schedule is None:
            return False, math.inf
        return self.schedule.state(now)


@dataclass(eq=False)  # identity semantics: a stub is one connection's live state
class Stub:
    """One toxic as one connection sees it: toxicity drawn once, plus per-connection state."""

    toxic: Toxic
    rng: random.Random
    active: bool
    armed: float  # timeout: when its idle timer last started (first sight, then each chunk)
    pacer: Pacer | None = None
    bad: bool = False  # Gilbert–Elliott state of this connection's direction
    sent: int = 0  # limit_data: bytes let through so far

    @classmethod
    def draw(cls, toxic: Toxic, conn_seed: str, now: float) -> Stub:
        rng = random.Random(f"{conn_seed}:{toxic.seed}")
        active = rng.random() < toxic.spec.toxicity
        stub = cls(toxic, rng, active, now)
        if toxic.kind == "bandwidth":
            stub.pacer = Pacer(toxic.spec.number("rate") * KB)
        return stub

    def sync(self) -> None:
        # A rate changed through the API applies to live connections at once.
        if self.pacer is not None:
            self.pacer.rate = self.toxic.spec.number("rate") * KB


def latency_of(stub: Stub) -> float:
    """Delay in seconds for one chunk: latency ± uniform jitter, as Toxiproxy draws it."""
    attrs = stub.toxic.spec
    jitter = attrs.number("jitter")
    delay = attrs.number("latency") + (stub.rng.uniform(-jitter, jitter) if jitter else 0.0)
    return max(delay, 0.0) / 1000


def loss_effect(stub: Stub, size: int) -> tuple[float, bool]:
    """(stall seconds, reset?) for `size` bytes crossing a Gilbert–Elliott lossy link.

    Bytes are never dropped (that would corrupt the TCP stream we proxy); each lost packet costs
    a retransmission-timeout-like stall instead, and a loss may end the connection with a reset.
    """
    spec = stub.toxic.spec
    p, r = spec.number("p"), spec.number("r")
    loss_good, loss_bad = spec.number("loss_good"), spec.number("loss_bad")
    rto, reset = spec.number("rto") / 1000, spec.number("reset")
    packets = max(1, math.ceil(size / max(1.0, spec.number("packet_size"))))
    stall = 0.0
    rng = stub.rng
    for _ in range(packets):
        if stub.bad:
            stub.bad = rng.random() >= r
        else:
            stub.bad = rng.random() < p
        if rng.random() < (loss_bad if stub.bad else loss_good):
            stall += rto
            if reset and rng.random() < reset:
                return stall, True
    return stall, False


def slice_sizes(stub: Stub, size: int) -> list[int]:
    """Toxiproxy's slicer: halve the chunk (the cut moved by ±size_variation) until each piece
    is within size_variation of average_size, so pieces run from about half of
    average+variation up to it (a 5000-byte chunk at 100 ± 50 gives ~78-byte pieces)."""
    spec = stub.toxic.spec
    average = int(spec.number("average_size"))
    variation = max(0, int(spec.number("size_variation")))
    if average <= 0:
        return [size]  # Toxiproxy refuses to slice to nothing; we pass the chunk whole
    sizes: list[int] = []
    pending = [size]  # a stack, right half pushed first so pieces come out in stream order
    while pending:
        length = pending.pop()
        if length - average <= variation or length < 2:
            sizes.append(length)
            continue
        cut = length // 2 + (stub.rng.randint(-variation, variation - 1) if variation else 0)
        cut = min(max(cut, 1), length - 1)  # variation above the average must still terminate
        pending += [length - cut, cut]
    return sizes
