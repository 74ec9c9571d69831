"""Toxiproxy's toxic tests for timeout, reset_peer, limit_data, bandwidth and the toxic chain.

Ported from github.com/Shopify/toxiproxy (each test names its Go test):
- toxics/timeout_test.go @ 165feee91ddeb77165be981b87955dbcb54917f5, plus the idle-timeout rule
  of toxics/timeout.go @ 1390d9962f16d8164610c9128c8b5581fd046081 (each chunk re-arms it);
- toxics/reset_peer_test.go @ f960cadc6e1fa1a8759a967cf0335bcddb95a4b8;
- toxics/limit_data_test.go @ e8cd76153207cb58507f18375688664763c50329 (upstream feeds the
  toxic's Go channel directly; here the same chunks go through a real proxy);
- toxics/bandwidth_test.go @ 0998e6d1bd1117532a8772a1775aef0c6165fc3b;
- toxics/toxic_test.go @ a9ae9293e109594d696b30805a762b1426d6d451.
Time bounds: never early; late by at most SLACK (upstream allows 10 ms on a quiet machine; CI
here shares 2 cores). Bandwidth keeps the project's ±10 % accuracy target (docs/netsim.md).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from ektp_sync.netsim import NetSim

from .conftest import DEADLINE, connect, pattern, roundtrip, serve
from .toxiproxy_echo import assert_echo, echo_link

SLACK = 0.08  # seconds late a timer may fire on a loaded machine
MESSAGE = b"reset toxic payload\n"


# --- timeout_test.go -----------------------------------------------------------------------
async def test_timeout_toxic_does_not_cause_hang(sim: NetSim) -> None:
    # TestTimeoutToxicDoesNotCauseHang
    async with echo_link(sim) as link:
        await assert_echo(link)
        sim.add_toxic("test", "latency", "upstream", name="might_block", attributes={"latency": 10})
        sim.add_toxic("test", "timeout", "upstream", name="timeout", attributes={"timeout": 0})
        for _ in range(5):
            link.writer.write(b"hello")
            await link.writer.drain()
        await asyncio.wait_for(asyncio.to_thread(sim.remove_toxic, "test", "might_block"), 1.0)
        assert link.proxy.connections == 1  # still held by the timeout toxic


async def test_timeout_toxic_closes_connection_on_remove(sim: NetSim) -> None:
    # TestTimeoutToxicClosesConnectionOnRemove: both ends see EOF within a second
    async with echo_link(sim) as link:
        await assert_echo(link)
        sim.add_toxic("test", "timeout", "upstream", name="to_delete", attributes={"timeout": 0})
        sim.remove_toxic("test", "to_delete")
        assert await asyncio.wait_for(link.reader.read(), 1.0) == b""


async def test_timeout_is_an_idle_timeout(sim: NetSim) -> None:
    # toxics/timeout.go: every chunk restarts the timer, so a trickle keeps the connection.
    async with echo_link(sim) as link:
        await assert_echo(link)
        sim.add_toxic("test", "timeout", "upstream", attributes={"timeout": 400})
        start = time.monotonic()
        for _ in range(6):  # a byte every 150 ms for 0.9 s: more than twice the timeout
            link.writer.write(b".")
            await link.writer.drain()
            wrote = time.monotonic()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(link.reader.read(1), 0.15)  # open: nothing, no EOF
        assert await asyncio.wait_for(link.reader.read(), DEADLINE) == b""
        closed = time.monotonic()
        assert closed - start >= 0.9 + 0.4 - 0.15
        assert 0.4 <= closed - wrote <= 0.4 + SLACK  # 400 ms after the last byte


# --- reset_peer_test.go --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("stream", "timeout"),
    [("upstream", 0), ("upstream", 100), ("downstream", 100)],
    ids=["TestResetToxicNoTimeout", "TestResetToxicWithTimeout", "WithTimeoutDownstream"],
)
async def test_reset_toxic(sim: NetSim, stream: str, timeout: int) -> None:
    async with echo_link(sim) as link:
        sim.add_toxic(
            "test", "reset_peer", stream, name="resetconn", attributes={"timeout": timeout}
        )
        link.writer.write(MESSAGE)
        start = time.monotonic()
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(link.reader.read(10), DEADLINE)
        elapsed = time.monotonic() - start
        assert timeout / 1000 - 0.005 <= elapsed <= timeout / 1000 + SLACK


# --- limit_data_test.go (through a real proxy) --------------------------------------------
LIMIT_CASES = [  # (Go test, limit, chunks written, bytes that pass)
    ("TestLimitDataToxicChunkSmallerThanLimit", 100, [50], 50),
    ("TestLimitDataToxicChunkLengthMatchesLimit", 100, [100], 100),
    ("TestLimitDataToxicChunkBiggerThanLimit", 100, [150], 100),
    ("TestLimitDataToxicMultipleChunksMatchThanLimit", 100, [25, 25, 25, 25], 100),
    ("TestLimitDataToxicSecondChunkWouldOverflowLimit", 100, [90, 20], 100),
    ("TestLimitDataToxicLimitIsSetToZero", 0, [100], 0),
]


class Sink:
    """An upstream that keeps what it receives until EOF (what the toxic let through)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.grew = asyncio.Event()
        self.ended: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(65536):
            self.data += chunk
            self.grew.set()
        self.ended.set_result(bytes(self.data))

    async def has(self, size: int) -> None:
        async with asyncio.timeout(DEADLINE):
            while len(self.data) < size:
                self.grew.clear()
                await self.grew.wait()


@pytest.mark.parametrize(
    ("limit", "chunks", "passed"), [c[1:] for c in LIMIT_CASES], ids=[c[0] for c in LIMIT_CASES]
)
async def test_limit_data(sim: NetSim, limit: int, chunks: list[int], passed: int) -> None:
    sink = Sink()
    async with serve(sink) as upstream:
        proxy = await sim.add_proxy("p", "127.0.0.1:0", upstream)
        sim.add_toxic("p", "limit_data", "upstream", attributes={"bytes": limit})
        _reader, writer = await connect(proxy.listen)
        data = pattern(sum(chunks))
        offset = 0
        for size in chunks:  # one write, one chunk for the toxic
            writer.write(data[offset : offset + size])
            await writer.drain()
            offset += size
        writer.write_eof()  # ends the cases below the limit; the others end at it
        received = await asyncio.wait_for(sink.ended, DEADLINE)
        writer.close()
    assert received == data[:passed]


async def test_limit_data_toxic_may_be_restarted(sim: NetSim) -> None:
    # TestLimitDataToxicMayBeRestarted: a change to the toxics in between keeps the count
    sink = Sink()
    async with serve(sink) as upstream:
        proxy = await sim.add_proxy("p", "127.0.0.1:0", upstream)
        sim.add_toxic("p", "limit_data", "upstream", attributes={"bytes": 100})
        _reader, writer = await connect(proxy.listen)
        writer.write(pattern(90))
        await sink.has(90)
        sim.add_toxic("p", "noop", "upstream")
        writer.write(pattern(20))
        received = await asyncio.wait_for(sink.ended, DEADLINE)
        writer.close()
    assert received == pattern(90) + pattern(20)[:10]


async def test_limit_data_toxic_nil_should_close_pipe(sim: NetSim, echo: str) -> None:
    # TestLimitDataToxicNilShouldClosePipe: EOF before the limit is passed on
    proxy = await sim.add_proxy("p", "127.0.0.1:0", echo)
    sim.add_toxic("p", "limit_data", "upstream", attributes={"bytes": 100})
    assert await roundtrip(proxy.listen, b"") == b""


async def test_limit_data_toxic_may_be_interrupted(sim: NetSim, echo: str) -> None:
    # TestLimitDataToxicMayBeInterrupted: removed before any data, the link is unharmed
    proxy = await sim.add_proxy("p", "127.0.0.1:0", echo)
    sim.add_toxic("p", "limit_data", "upstream", attributes={"bytes": 100})
    sim.remove_toxic("p", "limit_data_upstream")
    assert await roundtrip(proxy.listen, pattern(500)) == pattern(500)


# --- bandwidth_test.go ---------------------------------------------------------------------
async def test_bandwidth_toxic(sim: NetSim) -> None:  # TestBandwidthToxic
    arrived: asyncio.Future[tuple[bytes, float]] = asyncio.get_running_loop().create_future()
    size = 480_000

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.readexactly(size)
        arrived.set_result((data, time.monotonic()))

    async with serve(server) as upstream:
        proxy = await sim.add_proxy("test", "127.0.0.1:0", upstream)
        sim.add_toxic("test", "bandwidth", "upstream", attributes={"rate": 1000})  # 1 MB/s
        _reader, writer = await connect(proxy.listen)
        start = time.monotonic()
        writer.write(pattern(size))
        writer.write_eof()
        data, end = await asyncio.wait_for(arrived, DEADLINE)
        writer.close()
    assert data == pattern(size)
    assert abs((end - start) / (size / 1_000_000) - 1) <= 0.10


# --- toxic_test.go -------------------------------------------------------------------------
async def test_persistent_connections(sim: NetSim) -> None:  # TestPersistentConnections
    async with echo_link(sim) as link:
        sim.add_toxic("test", "noop", "upstream", name="noop_up")
        sim.add_toxic("test", "noop", "downstream", name="noop_down")
        await assert_echo(link)
        await sim.reset()
        await assert_echo(link)
        await sim.reset()
        await assert_echo(link)


async def test_toxic_add_remove(sim: NetSim) -> None:  # TestToxicAddRemove
    async with echo_link(sim) as link:
        running = True

        async def toggle() -> None:
            enabled = False
            while running:
                if enabled:
                    sim.add_toxic("test", "noop", "upstream", name="noop_up")
                    sim.remove_toxic("test", "noop_down")
                else:
                    if "noop_up" in link.proxy.toxics:
                        sim.remove_toxic("test", "noop_up")
                    sim.add_toxic("test", "noop", "downstream", name="noop_down")
                enabled = not enabled
                await asyncio.sleep(0)  # let the echo run between changes

        toggler = asyncio.create_task(toggle())
        for _ in range(100):
            await assert_echo(link)
        running = False
        await toggler


@pytest.mark.skip(
    reason="TestProxyLatency asserts Go's per-hop cost (< 300 µs): a performance "
    "target of that implementation, not behaviour; see docs/netsim.md"
)
async def test_proxy_latency() -> None:  # TestProxyLatency
    raise AssertionError("not ported")
