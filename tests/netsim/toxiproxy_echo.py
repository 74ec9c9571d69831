"""The upstream side of Toxiproxy's toxic tests: an established proxy with a line-echo server.

toxics/toxic_test.go's WithEchoProxy / WithEstablishedProxy, in asyncio: the server side
records when each line arrives, so a test can time each direction separately.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ektp_sync.netsim import NetSim, Proxy

from .conftest import DEADLINE, connect, serve


@dataclass
class EchoLink:
    """A client connection through `proxy` to a server that echoes each line back."""

    proxy: Proxy
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    lines: asyncio.Queue[tuple[float, bytes]] = field(default_factory=asyncio.Queue)

    async def server_line(self) -> tuple[float, bytes]:
        """(arrival time, line) of the next line the server read."""
        return await asyncio.wait_for(self.lines.get(), DEADLINE)

    async def client_line(self) -> bytes:
        return await asyncio.wait_for(self.reader.readline(), DEADLINE)


@contextlib.asynccontextmanager
async def echo_link(sim: NetSim) -> AsyncIterator[EchoLink]:
    lines: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def echo_lines(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                lines.put_nowait((time.monotonic(), line))
                writer.write(line)
                await writer.drain()

    async with serve(echo_lines) as upstream:
        proxy = await sim.add_proxy("test", "127.0.0.1:0", upstream)
        reader, writer = await connect(proxy.listen)
        try:
            yield EchoLink(proxy, reader, writer, lines)
        finally:
            writer.close()


async def assert_echo(link: EchoLink, message: bytes = b"hello world\n") -> None:
    """toxic_test.go's AssertEchoResponse: one line there and back, intact."""
    link.writer.write(message)
    _at, line = await link.server_line()
    assert line == message
    assert await link.client_line() == message
