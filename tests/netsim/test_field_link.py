"""Beyond Toxiproxy: outage stall mode, Gilbert–Elliott loss, profiles, seeded determinism."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import random
import time

import pytest

from ektp_sync.netsim import PROFILES, NetSim
from ektp_sync.netsim.link import OutageSchedule
from ektp_sync.netsim.toxics import Stub, loss_effect

from .conftest import DEADLINE, connect, pattern, roundtrip


async def test_outage_stall_holds_data_until_link_returns(sim: NetSim, echo: str) -> None:
    proxy = await sim.add_proxy("p", "127.0.0.1:0", echo)
    reader, writer = await connect(proxy.listen)
    toxic = sim.add_toxic(
        "p", "outage", attributes={"period": 0, "duration": 400, "start": 0, "mode": "stall"}
    )
    assert toxic.schedule is not None
    end = toxic.schedule.window(0).end
    writer.write(b"held")
    assert await asyncio.wait_for(reader.readexactly(4), DEADLINE) == b"held"
    arrived = asyncio.get_running_loop().time()
    writer.close()
    assert 0 <= arrived - end <= 0.1


async def test_down_profile_resets_until_removed(sim: NetSim, echo: str) -> None:
    proxy = await sim.add_proxy("p", "127.0.0.1:0", echo)
    sim.apply_profile("p", "down")
    reader, writer = await connect(proxy.listen)
    with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
        writer.write(b"x")
        await asyncio.wait_for(reader.readexactly(1), DEADLINE)
    writer.close()
    sim.clear_profile("p")
    assert await roundtrip(proxy.listen, b"up again") == b"up again"


async def test_loss_stalls_but_never_corrupts(sim: NetSim, echo: str) -> None:
    proxy = await sim.add_proxy("p", "127.0.0.1:0", echo)
    payload = pattern(200_000)
    start = time.monotonic()
    assert await roundtrip(proxy.listen, payload) == payload
    clean = time.monotonic() - start
    sim.add_toxic("p", "loss", attributes={"p": 0.05, "r": 0.5, "rto": 20})
    start = time.monotonic()
    received = await roundtrip(proxy.listen, payload)
    lossy = time.monotonic() - start
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
    # ~137 packets, ~9 % of them lost → ~12 stalls of 20 ms each.
    assert lossy - clean >= 0.1


async def test_loss_reset_leaves_a_clean_prefix(sim: NetSim, echo: str) -> None:
    proxy = await sim.add_proxy("p", "127.0.0.1:0", echo)
    sim.add_toxic("p", "loss", attributes={"p": 0.2, "r": 0.5, "rto": 1, "reset": 0.5})
    payload = pattern(500_000)
    reader, writer = await connect(proxy.listen)
    writer.write(payload)
    received = bytearray()
    with pytest.raises(ConnectionResetError):
        async with asyncio.timeout(DEADLINE):
            while data := await reader.read(65536):
                received += data
    writer.close()
    assert len(received) < len(payload) and payload.startswith(received)


def test_gilbert_elliott_mean_loss_and_bursts() -> None:
    spec_loop = asyncio.new_event_loop()
    try:
        sim = NetSim(api=None, seed=1)

        async def make() -> Stub:
            proxy = await sim.add_proxy("p", "127.0.0.1:0", "127.0.0.1:9")
            toxic = sim.add_toxic("p", "loss", attributes={"p": 0.01, "r": 0.25, "rto": 1})
            stub = Stub.draw(toxic, "c", 0.0)
            await proxy.stop()
            return stub

        stub = spec_loop.run_until_complete(make())
    finally:
        spec_loop.close()
    losses = [loss_effect(stub, 1460)[0] > 0 for _ in range(200_000)]
    mean = sum(losses) / len(losses)
    assert abs(mean - 0.01 / 0.26) <= 0.008  # stationary bad-state share p / (p + r)
    bursts = sum(1 for a, b in itertools.pairwise(losses) if b and not a)
    assert 3.0 <= sum(losses) / bursts <= 5.0  # mean burst 1/r = 4 packets


def test_outage_schedule_is_seeded() -> None:
    def windows(seed: int) -> list[tuple[float, float]]:
        schedule = OutageSchedule(0.0, 30.0, 6.0, 2.0, 10.0, random.Random(seed))
        return [(w.start, w.end) for w in (schedule.window(i) for i in range(20))]

    assert windows(3) == windows(3)
    assert windows(3) != windows(4)
    for start, end in windows(3):
        assert 4.0 <= end - start <= 8.0
    starts = [start for start, _ in windows(3)]
    assert all(b - a >= 30.0 - 2.0 - 1e-9 for a, b in itertools.pairwise(starts))


async def test_seeded_runs_replay(echo: str) -> None:
    """Same seed, same per-connection draws (toxicity, slicing, jitter); another seed differs."""

    async def run(seed: int) -> tuple[list[bool], list[tuple[float, float]]]:
        async with NetSim(api=None, seed=seed) as sim:
            proxy = await sim.add_proxy("p", "127.0.0.1:0", echo)
            latency = sim.add_toxic(
                "p", "latency", toxicity=0.5, attributes={"latency": 1, "jitter": 1}
            )
            outage = sim.add_toxic(
                "p",
                "outage",
                stream="upstream",
                attributes={"period": 60_000, "duration": 5_000, "jitter": 3_000, "start": 60_000},
            )
            for _ in range(8):
                await roundtrip(proxy.listen, b"x")
            draws = [Stub.draw(latency, f"{proxy.seed}:conn{n}", 0.0).active for n in range(32)]
            assert outage.schedule is not None
            origin = outage.schedule.origin
            windows = [outage.schedule.window(i) for i in range(5)]
            # windows are absolute (monotonic clock); relative to the origin they differ between
            # runs only by float rounding, so compare them to the microsecond
            return draws, [(round(w.start - origin, 6), round(w.end - origin, 6)) for w in windows]

    assert await run(11) == await run(11)
    assert await run(11) != await run(12)


@pytest.mark.parametrize("profile", [p for p in PROFILES if p != "down"])
async def test_profiles_carry_data(sim: NetSim, echo: str, profile: str) -> None:
    proxy = await sim.add_proxy("p", "127.0.0.1:0", echo)
    names = sim.apply_profile("p", profile)
    assert names and all(name.startswith(f"{profile}.") for name in names)
    payload = pattern(20_000)
    assert await roundtrip(proxy.listen, payload) == payload
