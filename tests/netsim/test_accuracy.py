"""Accuracy of the shaping, measured through a real proxy on loopback with plain sockets.

Targets (docs/netsim.md): bandwidth within ±10 % for ≥ 256 KB, latency within ±15 ms,
outages starting and ending within 100 ms of their schedule.
"""

from __future__ import annotations

import asyncio
import time

from ektp_sync.netsim import NetSim

from .conftest import DEADLINE, connect, pattern, read_all_timed, serve, source

SIZE = 512_000


def measured_rate(size: int, first_len: int, first: float, last: float) -> float:
    """Bytes/s after the first read (its arrival starts the clock)."""
    return (size - first_len) / (last - first)


async def test_bandwidth_single_connection(sim: NetSim) -> None:
    async with serve(source(SIZE)) as upstream:
        proxy = await sim.add_proxy("p", "127.0.0.1:0", upstream)
        sim.add_toxic("p", "bandwidth", attributes={"rate": 500})  # 500 KB/s
        data, first_len, first, last = await read_all_timed(proxy.listen)
    assert data == pattern(SIZE)
    rate = measured_rate(SIZE, first_len, first, last)
    print(f"ACCURACY bandwidth 1 conn down: {rate / 1000:.1f} KB/s for 500 KB/s")
    assert abs(rate / 500_000 - 1) <= 0.10, f"measured {rate / 1000:.1f} KB/s for 500"


async def test_bandwidth_upstream(sim: NetSim) -> None:
    received = asyncio.get_running_loop().create_future()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.read(65536)
        start, total = time.monotonic(), len(first)
        while data := await reader.read(65536):
            total += len(data)
        received.set_result((total - len(first), time.monotonic() - start))

    async with serve(sink) as upstream:
        proxy = await sim.add_proxy("p", "127.0.0.1:0", upstream)
        sim.add_toxic("p", "bandwidth", stream="upstream", attributes={"rate": 400})
        _reader, writer = await connect(proxy.listen)
        writer.write(pattern(400_000))
        await writer.drain()
        writer.write_eof()
        size, elapsed = await asyncio.wait_for(received, DEADLINE)
        writer.close()
    print(f"ACCURACY bandwidth 1 conn up: {size / elapsed / 1000:.1f} KB/s for 400 KB/s")
    assert abs(size / elapsed / 400_000 - 1) <= 0.10


async def test_shared_link_split_among_connections(sim: NetSim) -> None:
    async with serve(source(300_000)) as upstream:
        proxy = await sim.add_proxy("p", "127.0.0.1:0", upstream)
        sim.add_toxic("p", "link_bandwidth", attributes={"rate": 900})  # shared 900 KB/s
        start = time.monotonic()
        results = await asyncio.gather(*(read_all_timed(proxy.listen) for _ in range(3)))
    assert all(data == pattern(300_000) for data, *_ in results)
    ends = [last - start for *_, last in results]
    aggregate = 900_000 / max(ends)
    print(f"ACCURACY shared link 3 conns: {aggregate / 1000:.1f} KB/s for 900 KB/s, ends {ends}")
    assert abs(aggregate / 900_000 - 1) <= 0.10, f"aggregate {aggregate / 1000:.0f} KB/s"
    # Shared fairly: each connection finishes near the end, none gets the link to itself.
    assert min(ends) >= 0.85 * max(ends), f"finish times {ends}"


async def test_per_connection_bandwidth_is_not_shared(sim: NetSim) -> None:
    async with serve(source(300_000)) as upstream:
        proxy = await sim.add_proxy("p", "127.0.0.1:0", upstream)
        sim.add_toxic("p", "bandwidth", attributes={"rate": 600})
        results = await asyncio.gather(*(read_all_timed(proxy.listen) for _ in range(3)))
    for _data, first_len, first, last in results:
        rate = measured_rate(300_000, first_len, first, last)
        print(f"ACCURACY per-connection bandwidth: {rate / 1000:.1f} KB/s for 600 KB/s")
        assert abs(rate / 600_000 - 1) <= 0.10


async def test_outage_follows_schedule(sim: NetSim) -> None:
    echo_payload = pattern(1000)
    async with serve(source(1000, close_after=False)) as upstream:
        proxy = await sim.add_proxy("p", "127.0.0.1:0", upstream)
        toxic = sim.add_toxic(
            "p", "outage", attributes={"period": 1500, "duration": 400, "start": 300}
        )
        assert toxic.schedule is not None
        window = toxic.schedule.window(0)
        loop = asyncio.get_running_loop()
        reader, writer = await connect(proxy.listen)
        assert await reader.readexactly(1000) == echo_payload
        try:
            await asyncio.wait_for(reader.read(), DEADLINE)
        except ConnectionResetError:
            pass
        reset_at = loop.time()
        writer.close()
        print(f"ACCURACY outage start error: {(reset_at - window.start) * 1000:+.1f} ms")
        assert abs(reset_at - window.start) <= 0.1, f"reset {reset_at - window.start:+.3f}s"
        # While down, new connections are refused (reset at once).
        _reader, refused = await connect(proxy.listen)
        try:
            assert await asyncio.wait_for(_reader.read(), DEADLINE) == b""
        except ConnectionResetError:
            pass
        refused.close()
        # Poll (bounded) for the first accepted connection after the window.
        up_at = None
        async with asyncio.timeout(DEADLINE):
            while up_at is None:
                probe_reader, probe = await connect(proxy.listen)
                try:
                    await asyncio.wait_for(probe_reader.readexactly(1000), 0.05)
                    up_at = loop.time()
                except (ConnectionResetError, asyncio.IncompleteReadError, TimeoutError):
                    await asyncio.sleep(0.02)  # retry interval of the probe, not a wait
                finally:
                    probe.close()
        print(f"ACCURACY outage end error: {(up_at - window.end) * 1000:+.1f} ms")
        assert abs(up_at - window.end) <= 0.1, f"up {up_at - window.end:+.3f}s"
