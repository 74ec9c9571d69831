"""Toxiproxy's latency and slicer toxic tests, ported.

From github.com/Shopify/toxiproxy (each test names its Go test):
- toxics/latency_test.go @ 04bafeb3fb40d430ce81082a9f6ba5a24af3e099 (through a real proxy);
- toxics/slicer_test.go (the v2 file with the zero-variation and degenerate-attribute cases)
  and toxics/slicer_termination_test.go @ 3960b8be0901dfa7d81e9ae0e2728acda1bd1852, which feed
  the slicer one chunk directly: here `slice_sizes` gets that chunk, as the pipe would pass it.
Time bounds: never early; late by at most SLACK (upstream: 10 ms on a quiet machine).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from ektp_sync.netsim import NetSim, Toxic, ToxicSpec
from ektp_sync.netsim.toxics import Stub, slice_sizes
from ektp_sync.testing import eventually

from .conftest import DEADLINE, connect, pattern, serve
from .toxiproxy_echo import EchoLink, echo_link

SLACK = 0.08
MESSAGE = b"hello world " + b"a" * 32 * 1024 + b"\n"


async def latency_round(link: EchoLink, up_ms: int, down_ms: int) -> None:
    """latency_test.go's doLatencyRound: time each direction of one echoed 32 KB line."""
    start = time.monotonic()
    link.writer.write(MESSAGE)
    arrived, line = await link.server_line()
    assert line == MESSAGE
    assert await link.client_line() == MESSAGE
    back = time.monotonic()
    assert up_ms / 1000 <= arrived - start <= up_ms / 1000 + SLACK
    assert down_ms / 1000 <= back - arrived <= down_ms / 1000 + SLACK


LATENCY_CASES = [  # (Go test, upstream ms or None, downstream ms or None)
    ("TestUpstreamLatency", 100, None),
    ("TestDownstreamLatency", None, 100),
    ("TestFullstreamLatencyEven", 100, 100),
    ("TestFullstreamLatencyBiasUp", 1000, 100),
    ("TestFullstreamLatencyBiasDown", 100, 1000),
    ("TestZeroLatency", 0, 0),
]


@pytest.mark.parametrize(
    ("up", "down"), [c[1:] for c in LATENCY_CASES], ids=[c[0] for c in LATENCY_CASES]
)
async def test_latency(sim: NetSim, up: int | None, down: int | None) -> None:
    async with echo_link(sim) as link:
        if up is not None:
            sim.add_toxic("test", "latency", "upstream", "latency_up", attributes={"latency": up})
        if down is not None:
            attributes = {"latency": down}
            sim.add_toxic("test", "latency", "downstream", "latency_down", attributes=attributes)
        for _ in range(2):  # the same latency in both rounds
            await latency_round(link, up or 0, down or 0)


async def test_latency_toxic_close_race(sim: NetSim) -> None:
    # TestLatencyToxicCloseRace (200 rounds instead of 1000: CI time; each round is one race)
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async with serve(hold) as upstream:
        proxy = await sim.add_proxy("test", "127.0.0.1:0", upstream)
        for _ in range(200):
            sim.add_toxic("test", "latency", "upstream", name="latency", attributes={"latency": 10})
            _reader, writer = await connect(proxy.listen)
            writer.write(b"hello")
            writer.close()
            sim.remove_toxic("test", "latency")
        # every connection wound down, none stuck
        await eventually(lambda: proxy.connections == 0, timeout=DEADLINE, interval=0.02)


async def test_two_latency_toxics(sim: NetSim) -> None:  # TestTwoLatencyToxics
    async with echo_link(sim) as link:
        for index in range(2):
            attributes = {"latency": 500}
            sim.add_toxic("test", "latency", "upstream", f"latency_{index}", attributes=attributes)
        start = time.monotonic()
        link.writer.write(MESSAGE)
        arrived, line = await link.server_line()
        assert line == MESSAGE
        assert 1.0 <= arrived - start <= 1.0 + SLACK


async def test_latency_toxic_bandwidth(sim: NetSim) -> None:
    # TestLatencyToxicBandwidth: latency is a delay line, not a cap on throughput. Upstream
    # wants ≥ 100 MB/s from Go; we ask 1.2 MB in under 1 s, where holding each 64 KB read
    # for its 100 ms in turn would take 1.9 s.
    payload = b"hello world " * 1000

    async def pour(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            writer.write(payload)
            await writer.drain()

    async with serve(pour) as upstream:
        proxy = await sim.add_proxy("test", "127.0.0.1:0", upstream)
        sim.add_toxic("test", "latency", "", attributes={"latency": 100})
        reader, writer = await connect(proxy.listen)
        start = time.monotonic()
        for _ in range(100):
            assert len(await asyncio.wait_for(reader.readexactly(len(payload)), DEADLINE)) > 0
        elapsed = time.monotonic() - start
        writer.close()
    assert elapsed < 1.0, f"1.2 MB took {elapsed:.2f} s through a 100 ms latency toxic"


# --- slicer --------------------------------------------------------------------------------
async def sizes(size: int, average: int, variation: int) -> list[int]:
    attributes = {"average_size": average, "size_variation": variation}
    toxic = Toxic(ToxicSpec.from_json({"type": "slicer", "attributes": attributes}), "s", 1)
    return slice_sizes(Stub.draw(toxic, "conn", 0.0), size)


async def test_slicer_toxic() -> None:  # TestSlicerToxic: 480 kB at 1024 ± 512
    pieces = await sizes(480_000, 1024, 512)
    assert sum(pieces) == 480_000
    assert 480 // 2 <= len(pieces) <= 480 // 2 + 480


async def test_slicer_toxic_zero_size_variation() -> None:  # TestSlicerToxicZeroSizeVariation
    assert await sizes(24, 1, 0) == [1] * 24


async def test_slicer_bisects_as_toxiproxy() -> None:
    # toxics/slicer.go halves each chunk until a piece is within the variation of the average,
    # so average_size is an upper bound, not a mean: 5000 bytes at 100 ± 0 are 64 pieces of
    # 78 or 79 bytes (fixed 100-byte cuts would give 50), and at 100 ± 50 none exceeds 150.
    assert sorted(set(await sizes(5000, 100, 0))) == [78, 79]
    assert len(await sizes(5000, 100, 0)) == 64
    pieces = await sizes(5000, 100, 50)
    assert sum(pieces) == 5000 and max(pieces) <= 150


@pytest.mark.parametrize(
    ("average", "variation"),
    [(0, 0), (0, 5), (1, 0), (2, 1), (5, 10), (10, 10), (64, 8), (1024, 512)],
)
async def test_slicer_reassembles_for_any_attributes(average: int, variation: int) -> None:
    # TestSlicerReassemblesForAnyAttributes and TestSlicerToxicDegenerateAttributesTerminate
    # (negative values are refused by the API here: see test_slicer_negative_attributes)
    for size in (1, 2, 21, 64, 1000, 4096):
        assert sum(await sizes(size, average, variation)) == size


async def test_slicer_negative_attributes_refused(sim: NetSim, echo: str) -> None:
    # Deliberately different: Toxiproxy slices with negative attributes (its newest releases
    # reject them in Validate); netsim refuses every negative attribute with 400.
    await sim.add_proxy("p", "127.0.0.1:0", echo)
    with pytest.raises(Exception, match="must not be negative"):
        sim.add_toxic("p", "slicer", attributes={"average_size": 4, "size_variation": -8})


async def test_slicer_through_proxy_keeps_data(sim: NetSim) -> None:
    source = pattern(20_000)

    async def send(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(source)
        writer.write_eof()
        await reader.read()

    async with serve(send) as upstream:
        proxy = await sim.add_proxy("p", "127.0.0.1:0", upstream)
        sim.add_toxic("p", "slicer", attributes={"average_size": 100, "size_variation": 50})
        reader, writer = await connect(proxy.listen)
        received = await asyncio.wait_for(reader.read(), DEADLINE)
        writer.close()
    assert received == source
