"""uvicorn's HTTP protocol with what it lacks against slow clients: a header deadline and a cap
on connections held at once.

uvicorn times out an idle keep-alive connection, but not one that sends its request line and
headers a byte at a time: each byte resets nothing because nothing is armed. A few hundred such
clients hold as many sockets until the process runs out of file descriptors, and then nobody
else gets in. Here every request's head must be complete within `header_timeout` seconds of its
connection (or of its first byte, on a kept-alive connection), and connections beyond
`max_connections` are closed as soon as they are made, before they cost more than a socket.
"""

from __future__ import annotations

import asyncio
import functools
import resource
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: file descriptors kept free of client connections (database, logs, the centre, TLS files)
RESERVED_DESCRIPTORS = 64


class GuardedHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with a deadline on each request's head and a connection cap."""

    def __init__(
        self, *args: Any, header_timeout: float, max_connections: int, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout = header_timeout
        self._max_connections = max_connections
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._max_connections:
            # over the cap: close now, so a flood costs a socket for a moment, not for good
            transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # a kept-alive connection's next request: its head has the same deadline

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def _arm(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self._header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def usable_connections(wanted: int) -> int:
    """`wanted`, or fewer when the open-file limit could not hold that many (raised first to
    its hard ceiling where the system allows it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - RESERVED_DESCRIPTORS))


def protocol_factory(header_timeout: float, max_connections: int) -> Any:
    """What to give uvicorn as `http=`: the protocol with its limits bound (a partial pickles,
    so `--workers N` processes get it too)."""
    return functools.partial(
        GuardedHttpProtocol,
        header_timeout=header_timeout,
        max_connections=usable_connections(max_connections),
    )
