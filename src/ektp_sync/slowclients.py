"""uvicorn's HTTP protocol with what it lacks against slow clients: a header deadline, an idle
deadline on bodies and a cap on connections held at once.

uvicorn times out an idle keep-alive connection, but not one that sends its request line and
headers a byte at a time: each byte resets nothing because nothing is armed. A few hundred such
clients hold as many sockets until the process runs out of file descriptors, and then nobody
else gets in. Here every request's head must be complete within `header_timeout` seconds of its
connection (or of its first byte, on a kept-alive connection), and connections beyond
`max_connections` are closed as soon as they are made, before they cost more than a socket.

A client may also send its head at once and then drip its body, holding a connection and a
request task as long as it likes. So while a body is incomplete, `body_idle` seconds without a
byte of it is answered 408 and the connection closed. It is an idle deadline, not a total one:
a satellite link may take minutes over a big body, as long as it keeps delivering. Time the
server itself holds the client back is not the client's: while uvicorn has paused reading (the
app is not consuming the body fast enough, or a pipelined request waits its turn) or the client
waits for `100 Continue`, the deadline is off, and it starts afresh when reading resumes.
"""

from __future__ import annotations

import asyncio
import functools
import resource
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ektp_sync.wire import ErrorBody

#: file descriptors kept free of client connections (database, logs, the centre, TLS files)
RESERVED_DESCRIPTORS = 64

#: the rule key of the 408 (the servers' error shape, `ErrorBody`)
BODY_IDLE_RULE = "body_idle"


def _body_idle_answer(seconds: float) -> bytes:
    """The whole 408 response, written by the protocol itself (the app never answers it)."""
    refusal = ErrorBody(
        detail=f"no byte of the request body arrived for {seconds:g} s", rule=BODY_IDLE_RULE
    )
    body = refusal.model_dump_json().encode()
    head = (
        b"HTTP/1.1 408 Request Timeout\r\n"
        b"content-type: application/json\r\n"
        b"content-length: %d\r\n"
        b"connection: close\r\n\r\n" % len(body)
    )
    return head + body


class _WatchedFlow(FlowControl):
    """uvicorn's flow control, telling its connection when reading pauses and resumes (each
    request's `receive` resumes it, which is also when a `100 Continue` has just gone out)."""

    def __init__(
        self,
        transport: asyncio.Transport,
        on_pause: Callable[[], None],
        on_resume: Callable[[], None],
    ) -> None:
        super().__init__(transport)
        self._on_pause = on_pause
        self._on_resume = on_resume

    def pause_reading(self) -> None:
        super().pause_reading()
        self._on_pause()

    def resume_reading(self) -> None:
        super().resume_reading()
        self._on_resume()


class GuardedHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with a deadline on each request's head, an idle deadline on its body
    and a connection cap."""

    def __init__(
        self,
        *args: Any,
        header_timeout: float,
        body_idle: float,
        max_connections: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout = header_timeout
        self._body_idle = body_idle
        self._max_connections = max_connections
        self._head_deadline: asyncio.TimerHandle | None = None
        self._body_deadline: asyncio.TimerHandle | None = None
        self._body_expected = False
        #: when the client last made progress on its body (or was let go on after a pause)
        self._body_progress = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.flow = _WatchedFlow(transport, self._disarm_body, self._reading_resumed)
        if len(self.connections) > self._max_connections:
            # over the cap: close now, so a flood costs a socket for a moment, not for good
            transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._body_expected = False
        self._disarm_body()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # a kept-alive connection's next request: its head has the same deadline

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        upgrade = self.parser.should_upgrade() and self._should_upgrade()  # not HTTP any more
        self._body_expected = not upgrade and self._announces_body()
        self._arm_body()

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        # progress: the client has `body_idle` again from now (the timer, when it goes off,
        # looks at this and sleeps on: no timer is made and cancelled per piece)
        self._body_progress = self.loop.time()
        self._arm_body()

    def on_message_complete(self) -> None:
        self._body_expected = False
        self._disarm_body()
        super().on_message_complete()

    def _announces_body(self) -> bool:
        """Content-Length above 0, or chunked (a body without either is not HTTP/1.1's)."""
        for name, value in self.headers:
            if name == b"content-length":
                return value.strip() not in (b"", b"0")
            if name == b"transfer-encoding" and b"chunked" in value.lower():
                return True
        return False

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

    def _held_by_us(self) -> bool:
        """Whether the client cannot send now because of the server: reading is paused, or a
        `100 Continue` is still owed to it."""
        return self.flow.read_paused or (
            self.cycle is not None and self.cycle.waiting_for_100_continue
        )

    def _arm_body(self) -> None:
        """Start the body's clock from now, if it should run (a body is expected, we hold
        nothing back) and does not yet."""
        if self._body_expected and self._body_deadline is None and not self._held_by_us():
            self._body_progress = self.loop.time()
            self._body_deadline = self.loop.call_later(self._body_idle, self._body_too_slow)

    def _disarm_body(self) -> None:
        if self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None

    def _reading_resumed(self) -> None:
        self._arm_body()  # if stopped: a fresh `body_idle` from now, the time held back was ours

    def _body_too_slow(self) -> None:
        self._body_deadline = None
        idle = self.loop.time() - self._body_progress
        if idle < self._body_idle:
            self._body_deadline = self.loop.call_later(self._body_idle - idle, self._body_too_slow)
            return
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if not cycle.response_started:
            self.transport.write(_body_idle_answer(self._body_idle))
            self.logger.info("request body idle for %g s: answered 408", self._body_idle)
        # the app's receive() answers a disconnect, its send() is dropped, as on a lost client
        cycle.disconnected = True
        cycle.message_event.set()
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


def protocol_factory(header_timeout: float, body_idle: float, max_connections: int) -> Any:
    """What to give uvicorn as `http=`: the protocol with its limits bound (a partial pickles,
    so `--workers N` processes get it too)."""
    return functools.partial(
        GuardedHttpProtocol,
        header_timeout=header_timeout,
        body_idle=body_idle,
        max_connections=usable_connections(max_connections),
    )
