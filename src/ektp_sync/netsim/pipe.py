"""One direction of a proxied connection: read, shape through the active toxics, deliver on time."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from ektp_sync.netsim.link import Pacer
from ektp_sync.netsim.metrics import ByteCounts
from ektp_sync.netsim.toxics import Stub, latency_of, loss_effect, slice_sizes

READ_SIZE = 65536
QUEUE_CHUNKS = 64  # bounded queues carry back-pressure to the sender's TCP window


class Link(Protocol):
    """What a pipe needs from its connection."""

    def active_stubs(self, direction: str) -> list[Stub]: ...
    def close(self, reset: bool = False) -> None: ...
    def pipe_finished(self) -> None: ...
    async def wait_link_up(self, direction: str) -> None: ...


@dataclass
class Item:
    due: float
    data: bytes | None  # None: end of this direction
    limit: bool = False  # limit_data reached: close the whole connection


class Pipe:
    """Moves bytes src → dst with the toxics of `direction`, never dropping or reordering them.

    Three tasks: the reader (so the socket keeps being read while a chunk waits), the shaper
    (pacing, stalls, slicing, truncation) and the writer (holds each piece until it is due, so
    latency is a delay line and does not reduce throughput).
    """

    def __init__(
        self,
        link: Link,
        direction: str,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        counts: ByteCounts,
    ) -> None:
        self.link = link
        self.direction = direction
        self.src = src
        self.dst = dst
        self.counts = counts
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_CHUNKS)
        self._outbox: asyncio.Queue[Item] = asyncio.Queue(QUEUE_CHUNKS * 4)
        self._last_due = 0.0

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._read())
                group.create_task(self._shape())
                group.create_task(self._write())
        except* (ConnectionError, OSError):
            # A peer reset or vanished: pass it on to the other peer as a reset.
            self.link.close(reset=True)

    async def _read(self) -> None:
        while True:
            data = await self.src.read(READ_SIZE)
            self.counts.received += len(data)
            await self._inbox.put(data or None)
            if not data:
                return

    async def _shape(self) -> None:
        while True:
            data = await self._inbox.get()
            if data is None:
                await self._outbox.put(Item(self._last_due, None))
                return
            if not await self._shape_chunk(data):
                return

    async def _shape_chunk(self, data: bytes) -> bool:
        """Shape one chunk read from src; False when the connection is ending."""
        loop = asyncio.get_running_loop()
        await self.link.wait_link_up(self.direction)
        stubs = self.link.active_stubs(self.direction)
        by_kind: dict[str, list[Stub]] = {}
        for stub in stubs:
            stub.sync()
            by_kind.setdefault(stub.toxic.kind, []).append(stub)
        if "timeout" in by_kind:
            # Swallowed, as Toxiproxy's timeout toxic does; each chunk restarts its timer
            # (an idle timeout: a peer that keeps sending is never cut).
            for stub in by_kind["timeout"]:
                stub.armed = loop.time()
            return True
        if "reset_peer" in by_kind:
            # As Toxiproxy: the first data through arms it; that data is dropped, and after
            # `timeout` ms the connection is reset.
            await asyncio.sleep(by_kind["reset_peer"][0].toxic.spec.number("timeout") / 1000)
            self.link.close(reset=True)
            return False
        closing = False
        for stub in by_kind.get("limit_data", []):
            room = max(0, int(stub.toxic.spec.number("bytes")) - stub.sent)
            data = data[:room]
            stub.sent += len(data)
            closing = closing or stub.sent >= int(stub.toxic.spec.number("bytes"))
        for stub in by_kind.get("loss", []):
            stall, reset = loss_effect(stub, len(data))
            if stall:
                await asyncio.sleep(stall)
            if reset:
                self.link.close(reset=True)
                return False
        delay = sum(latency_of(stub) for stub in by_kind.get("latency", []))
        pacers = [s.pacer for s in by_kind.get("bandwidth", []) if s.pacer]
        pacers += [
            s.toxic.link_pacer for s in by_kind.get("link_bandwidth", []) if s.toxic.link_pacer
        ]
        pacers = [pacer for pacer in pacers if pacer.rate > 0]
        slicer = by_kind.get("slicer", [None])[0]
        sizes = slice_sizes(slicer, len(data)) if slicer else [len(data)]
        gap = slicer.toxic.spec.number("delay") / 1e6 if slicer else 0.0
        offset = 0
        for index, size in enumerate(sizes):
            if gap and index:
                await asyncio.sleep(gap)
            for piece in _split(data[offset : offset + size], pacers):
                for pacer in pacers:
                    await pacer.send(len(piece))
                await self._emit(Item(loop.time() + delay, piece))
            offset += size
        if closing:
            await self._emit(Item(loop.time() + delay, None, limit=True))
            return False
        return True

    async def _emit(self, item: Item) -> None:
        # Jitter must not reorder bytes: a piece is never due before the one ahead of it.
        item.due = max(item.due, self._last_due)
        self._last_due = item.due
        await self._outbox.put(item)

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            item = await self._outbox.get()
            wait = item.due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if item.data is not None:
                if item.data:
                    self.dst.write(item.data)
                    await self.dst.drain()
                    self.counts.sent += len(item.data)
                continue
            if item.limit:
                self.link.close()
                return
            await self._slow_close()
            if self.dst.can_write_eof():
                self.dst.write_eof()
            self.link.pipe_finished()
            return

    async def _slow_close(self) -> None:
        delays = [
            s.toxic.spec.number("delay")
            for s in self.link.active_stubs(self.direction)
            if s.toxic.kind == "slow_close"
        ]
        if delays:
            await asyncio.sleep(max(delays) / 1000)


def _split(piece: bytes, pacers: list[Pacer]) -> list[bytes]:
    if not pacers or not piece:
        return [piece]
    step = min(pacer.slice_size() for pacer in pacers)
    return [piece[i : i + step] for i in range(0, len(piece), step)]
