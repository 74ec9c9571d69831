"""Each toxic's effect through a real proxy on loopback, and data intact through every toxic."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import pytest

from ektp_sync.netsim import NetSim

from .conftest import DEADLINE, connect, pattern, roundtrip, serve, source

PAYLOAD = pattern(300_000)

# A setting of every toxic that lets data through; checked with checksums both ways.
PASSING: list[tuple[str, dict[str, Any]]] = [
    ("latency", {"latency": 20, "jitter": 10}),
    ("bandwidth", {"rate": 2000}),
    ("link_bandwidth", {"rate": 2000}),
    ("slow_close", {"delay": 50}),
    ("slicer", {"average_size": 2000, "size_variation": 1500, "delay": 10}),
    ("limit_data", {"bytes": 10_000_000}),
    ("loss", {"p": 0.05, "r": 0.5, "rto": 2}),
    ("outage", {"period": 60_000, "duration": 1000, "start": 30_000}),
]
# timeout and reset_peer are absent: they drop data by design (as Toxiproxy's do), and then end
# the connection, so a clean stream is never mistaken for a complete one.


@pytest.mark.parametrize(("kind", "attributes"), PASSING, ids=[k for k, _ in PASSING])
async def test_data_intact_through_every_toxic(
    sim: NetSim, echo: str, kind: str, attributes: dict[str, Any]
) -> None:
    proxy = await sim.add_proxy("p", "127.0.0.1:0", echo)
    for stream in ("upstream", "downstream"):
        sim.add_toxic("p", kind, stream=stream, attributes=attributes)
    received = await roundtrip(proxy.listen, PAYLOAD)
    assert hashlib.sha256(received).digest() == hashlib.sha256(PAYLOAD).digest()


async def test_latency_is_added(sim: NetSim, echo: str) -> None:
    proxy = await sim.add_proxy("p", "127.0.0.1:0", echo)
    reader, writer = await connect(proxy.listen)

    async def ping() -> float:
        start = time.monotonic()
        writer.write(b"x")
        await writer.drain()
        await asyncio.wait_for(reader.readexactly(1), DEADLINE)
        return time.monotonic() - start

    base = min([await ping() for _ in range(3)])
    sim.add_toxic("p", "latency", stream="upstream", attributes={"latency": 60})
    sim.add_toxic("p", "latency", stream="downstream", attributes={"latency": 90})
    samples = sorted([await ping() for _ in range(5)])
    writer.close()
    added = (samples[2] - base) * 1000
    print(f"ACCURACY latency: added {added:.1f} ms for 150 ms (60 up + 90 down)")
    assert abs(added - 150) <= 15, f"added {added:.1f} ms, expected 150 ± 15"


async def test_timeout_black_holes_then_closes(sim: NetSim, echo: str) -> None:
    proxy = await sim.add_proxy("p", "127.0.0.1:0", echo)
    sim.add_toxic("p", "timeout", stream="upstream", attributes={"timeout": 300})
    reader, writer = await connect(proxy.listen)
    start = time.monotonic()
    writer.write(b"hello")
    data = await asyncio.wait_for(reader.read(), DEADLINE)  # EOF when the proxy closes
    elapsed = time.monotonic() - start
    writer.close()
    assert data == b"" and 0.25 <= elapsed <= 0.6


async def test_timeout_zero_holds_until_removed(sim: NetSim, echo: str) -> None:
    proxy = await sim.add_proxy("p", "127.0.0.1:0", echo)
    sim.add_toxic("p", "timeout", stream="upstream", attributes={"timeout": 0})
    reader, writer = await connect(proxy.listen)
    writer.write(b"lost")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), 0.4)
    # Removing it ends the connection (its stream lost bytes), as in Toxiproxy; new ones pass.
    sim.remove_toxic("p", "timeout_upstream")
    assert await asyncio.wait_for(reader.read(), DEADLINE) == b""
    writer.close()
    assert await roundtrip(proxy.listen, b"kept") == b"kept"


async def test_reset_peer_resets(sim: NetSim, echo: str) -> None:
    proxy = await sim.add_proxy("p", "127.0.0.1:0", echo)
    sim.add_toxic("p", "reset_peer", attributes={"timeout": 100})
    reader, writer = await connect(proxy.listen)
    writer.write(b"arms it")  # as in Toxiproxy, the first data starts the timer
    start = time.monotonic()
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(), DEADLINE)
    writer.close()
    assert 0.08 <= time.monotonic() - start <= 0.5


async def test_limit_data_closes_after_n_bytes(sim: NetSim, echo: str) -> None:
    proxy = await sim.add_proxy("p", "127.0.0.1:0", echo)
    sim.add_toxic("p", "limit_data", attributes={"bytes": 1000})
    reader, writer = await connect(proxy.listen)
    writer.write(pattern(5000))
    data = await asyncio.wait_for(reader.read(), DEADLINE)
    writer.close()
    assert data == pattern(5000)[:1000]


async def test_slicer_slices_and_keeps_data(sim: NetSim) -> None:
    async with serve(source(20_000)) as upstream:
        proxy = await sim.add_proxy("p", "127.0.0.1:0", upstream)
        sim.add_toxic(
            "p", "slicer", attributes={"average_size": 200, "size_variation": 50, "delay": 2000}
        )
        reader, writer = await connect(proxy.listen)
        reads: list[bytes] = []
        async with asyncio.timeout(DEADLINE):
            while data := await reader.read(65536):
                reads.append(data)
        writer.close()
    assert b"".join(reads) == pattern(20_000)
    assert len(reads) >= 40  # ~100 slices 2 ms apart arrive as separate reads


async def test_slow_close_delays_close(sim: NetSim) -> None:
    async with serve(source(100)) as upstream:
        proxy = await sim.add_proxy("p", "127.0.0.1:0", upstream)
        sim.add_toxic("p", "slow_close", attributes={"delay": 300})
        reader, writer = await connect(proxy.listen)
        data = await asyncio.wait_for(reader.readexactly(100), DEADLINE)
        got_data = time.monotonic()
        assert await asyncio.wait_for(reader.read(), DEADLINE) == b""
        writer.close()
    assert data == pattern(100)
    assert 0.28 <= time.monotonic() - got_data <= 0.6


async def test_disabled_proxy_refuses_and_closes(sim: NetSim, echo: str) -> None:
    proxy = await sim.add_proxy("p", "127.0.0.1:0", echo)
    reader, writer = await connect(proxy.listen)
    await sim.set_enabled("p", False)
    assert await asyncio.wait_for(reader.read(), DEADLINE) == b""
    writer.close()
    with pytest.raises(ConnectionRefusedError):
        await connect(proxy.listen)
    await sim.set_enabled("p", True)
    assert await roundtrip(proxy.listen, b"back") == b"back"


async def test_toxicity_zero_never_applies(sim: NetSim, echo: str) -> None:
    proxy = await sim.add_proxy("p", "127.0.0.1:0", echo)
    sim.add_toxic("p", "timeout", stream="upstream", toxicity=0.0, attributes={"timeout": 0})
    assert await roundtrip(proxy.listen, b"through") == b"through"
