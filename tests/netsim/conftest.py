"""Fixtures for the simulator tests: a NetSim on loopback and small upstream servers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from ektp_sync.netsim import NetSim

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
DEADLINE = 10.0  # no single network step in these tests may take longer


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.write_eof()
        await writer.drain()


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    """Run `handler` as a loopback TCP server; yields its 'host:port'."""
    tasks: set[asyncio.Task[None]] = set()
    writers: set[asyncio.StreamWriter] = set()

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        writers.add(writer)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the proxy reset this connection: expected in several tests
        finally:
            writer.close()
            tasks.discard(task)
            writers.discard(writer)

    server = await asyncio.start_server(tracked, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.close()
        for writer in list(writers):
            writer.close()  # handlers then see EOF and end by themselves
        if tasks:
            await asyncio.wait(set(tasks), timeout=DEADLINE)


def source(size: int, close_after: bool = True) -> Handler:
    """A server that sends `size` bytes of a fixed pattern on connect, then closes."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            writer.write(pattern(size))
            await writer.drain()
            if close_after:
                writer.write_eof()
            await reader.read()  # hold the connection until the client ends it

    return handler


def pattern(size: int) -> bytes:
    block = bytes(range(251))  # a prime length, so shifted or lost bytes show in checksums
    return (block * (size // len(block) + 1))[:size]


@pytest.fixture
async def echo() -> AsyncIterator[str]:
    async with serve(_echo) as address:
        yield address


@pytest.fixture
async def sim() -> AsyncIterator[NetSim]:
    netsim = NetSim(api="127.0.0.1:0", seed=7)
    await netsim.start()
    try:
        yield netsim
    finally:
        await asyncio.wait_for(netsim.stop(), DEADLINE)


async def connect(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, _, port = address.rpartition(":")
    return await asyncio.wait_for(asyncio.open_connection(host, int(port)), DEADLINE)


async def roundtrip(address: str, data: bytes) -> bytes:
    """Send `data`, half-close, and read everything back (through an echo upstream)."""
    reader, writer = await connect(address)
    try:

        async def send() -> None:
            writer.write(data)
            await writer.drain()
            writer.write_eof()

        sender = asyncio.create_task(send())
        received = await asyncio.wait_for(reader.read(), DEADLINE)
        await sender
        return received
    finally:
        writer.close()


async def read_all_timed(address: str) -> tuple[bytes, int, float, float]:
    """Read a source until EOF: (data, size of first read, time of first read, of last read)."""
    reader, writer = await connect(address)
    chunks: list[bytes] = []
    first = last = 0.0
    try:
        async with asyncio.timeout(DEADLINE):
            while data := await reader.read(65536):
                last = time.monotonic()
                if not chunks:
                    first = last
                chunks.append(data)
    finally:
        writer.close()
    return b"".join(chunks), len(chunks[0]) if chunks else 0, first, last
