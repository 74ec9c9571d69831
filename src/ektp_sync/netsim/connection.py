"""One client connection through a proxy: opens the upstream, runs both pipes, enforces timers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import TYPE_CHECKING

from ektp_sync.netsim.pipe import Pipe
from ektp_sync.netsim.toxics import Stub, Toxic

if TYPE_CHECKING:
    from ektp_sync.netsim.proxy import Proxy

CONNECT_TIMEOUT = 10.0
# An unreachable upstream resets the client, but not before the client has seen its connect()
# succeed: the reset waits for the client's first bytes or EOF, or this long at most.
REFUSE_GRACE = 1.0
CONTROL_TICK = 1.0  # upper bound on a control wait; changes and deadlines wake it sooner


class Connection:
    """A client↔upstream pair. Ends when both directions reached EOF, or on close()/reset."""

    def __init__(
        self,
        proxy: Proxy,
        number: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.proxy = proxy
        self.seed = f"{proxy.seed}:conn{number}"
        self._client = (reader, writer)
        self._upstream: asyncio.StreamWriter | None = None
        self._stubs: dict[int, Stub] = {}
        self._done = asyncio.Event()
        self._reset = False
        self._finished_pipes = 0

    # --- what the pipes use -------------------------------------------------------------
    def stub(self, toxic: Toxic) -> Stub:
        """This connection's view of a toxic; toxicity is drawn once, on first sight."""
        stub = self._stubs.get(id(toxic))
        if stub is None or stub.toxic is not toxic:
            stub = Stub.draw(toxic, self.seed, asyncio.get_running_loop().time())
            self._stubs[id(toxic)] = stub
        return stub

    def active_stubs(self, direction: str) -> list[Stub]:
        stubs = (self.stub(t) for t in self.proxy.toxics.values() if t.spec.stream == direction)
        return [stub for stub in stubs if stub.active]

    def close(self, reset: bool = False) -> None:
        if not self._done.is_set():
            self._reset = reset
            self._done.set()

    def pipe_finished(self) -> None:
        self._finished_pipes += 1
        if self._finished_pipes == 2:
            self.close()

    async def wait_link_up(self, direction: str) -> None:
        """Hold data while an outage (stall mode) is down; returns at once when the link is up."""
        loop = asyncio.get_running_loop()
        while not self._done.is_set():
            now = loop.time()
            downs = [
                change
                for stub in self.active_stubs(direction)
                if stub.toxic.kind == "outage"
                for down, change in [stub.toxic.outage_state(now)]
                if down
            ]
            if not downs:
                return
            await self.proxy.wait_changed(min(min(downs) - now, CONTROL_TICK))

    # --- lifecycle -----------------------------------------------------------------------
    def link_down_now(self) -> bool:
        now = asyncio.get_running_loop().time()
        return any(
            stub.toxic.outage_state(now)[0]
            for direction in ("upstream", "downstream")
            for stub in self.active_stubs(direction)
            if stub.toxic.kind == "outage"
        )

    async def run(self) -> None:
        reader, writer = self._client
        if self.link_down_now():
            # The link is down: a new connection is refused (as a reset, the listener stays up).
            _abort(writer, reset=True)
            return
        host, port = self.proxy.upstream_address()
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError):
            await self._refuse(reader, writer)
            return
        self._upstream = up_writer
        counts = self.proxy.byte_counts
        pipes = [
            Pipe(self, "upstream", reader, up_writer, counts("upstream")),
            Pipe(self, "downstream", up_reader, writer, counts("downstream")),
        ]
        tasks = [asyncio.create_task(pipe.run()) for pipe in pipes]
        tasks.append(asyncio.create_task(self._control()))
        try:
            await self._done.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for stream in (writer, up_writer):
                _abort(stream, self._reset)
            for stream in (writer, up_writer):
                with contextlib.suppress(OSError, TimeoutError):
                    await asyncio.wait_for(stream.wait_closed(), 1.0)

    async def _refuse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Reset a client whose upstream cannot be reached, once it has surely connected.

        A reset sent at once can reach the client before its non-blocking connect() reports
        success, so connect() itself fails ("is the proxy listening?" checks then flap).
        Toxiproxy accepts first too; it then closes with FIN, we reset (as a dead server would).
        """
        first = asyncio.ensure_future(reader.read(1))
        stopped = asyncio.ensure_future(self._done.wait())
        try:
            await asyncio.wait(
                {first, stopped}, timeout=REFUSE_GRACE, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in (first, stopped):
                waiter.cancel()
            await asyncio.gather(first, stopped, return_exceptions=True)
        _abort(writer, reset=True)

    def toxic_removed(self, toxic: Toxic) -> None:
        """A timeout toxic that held this connection is gone: its stream may have a hole, so
        the connection ends (Toxiproxy's timeout closes it in its Cleanup, too)."""
        if toxic.kind == "timeout" and self.stub(toxic).active:
            self.close()

    async def _control(self) -> None:
        """Connection-wide timers: timeout, reset_peer, outage in reset mode."""
        loop = asyncio.get_running_loop()
        while not self._done.is_set():
            now = loop.time()
            wake = now + CONTROL_TICK
            for direction in ("upstream", "downstream"):
                for stub in self.active_stubs(direction):
                    due, reset = _deadline(stub, now)
                    if due <= now:
                        self.close(reset=reset)
                        return
                    wake = min(wake, due)
            await self.proxy.wait_changed(wake - now)


def _deadline(stub: Stub, now: float) -> tuple[float, bool]:
    """When this toxic ends the connection, and whether by reset; inf when it does not."""
    kind, spec = stub.toxic.kind, stub.toxic.spec
    if kind == "timeout" and spec.number("timeout") > 0:
        # Idle timeout, as Toxiproxy's: `armed` moves on with every chunk the toxic swallows.
        return stub.armed + spec.number("timeout") / 1000, False
    if kind == "outage" and spec.attributes.get("mode") == "reset":
        down, change = stub.toxic.outage_state(now)
        return (now, True) if down else (change, True)
    return float("inf"), False


def _abort(writer: asyncio.StreamWriter, reset: bool) -> None:
    """Close a socket; with reset=True the peer sees a TCP RST (SO_LINGER 0), not a FIN."""
    if reset:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
    else:
        writer.close()
