"""Long polls of the decisions feed: wake-ups when decisions are committed, and at shutdown.

An office that asks `GET /decisions?wait=S` is answered as soon as one of its decisions exists,
instead of on its next poll: on a 600 ms satellite link a poll cycle of a second or more was a
large part of the time from recording to print. Decisions committed by this process wake the
waiters at once; those of the other `--workers` processes are seen by a short re-query.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

Handler = Callable[[int, FrameType | None], None]

#: how often a waiting request looks again for decisions another process committed
RECHECK_SECONDS = 0.5


class Pulse:
    """Wakes everyone waiting at the moment of `pulse()`; later waiters wait for the next one."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.waiting = 0  # requests held right now (what tests await)

    def ticket(self) -> asyncio.Event:
        """Take before looking, so a pulse between the look and the wait is not missed."""
        return self._event

    def pulse(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, ticket: asyncio.Event, closing: asyncio.Event, seconds: float) -> None:
        """Until the pulse of `ticket`, shutdown, or `seconds` pass — whichever is first."""
        if seconds <= 0 or closing.is_set():
            return
        waits = [asyncio.ensure_future(ticket.wait()), asyncio.ensure_future(closing.wait())]
        self.waiting += 1
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.waiting -= 1
            for future in waits:
                future.cancel()


@contextlib.contextmanager
def closing_on_exit_signal(closing: asyncio.Event) -> Iterator[None]:
    """Set `closing` when SIGTERM/SIGINT arrives, then let the server's own handler run.

    uvicorn waits for requests in progress before it shuts the app down and tells the app
    nothing meanwhile; without this a held long poll would delay every shutdown by its wait.
    Only the main thread may install handlers; elsewhere (in-process tests) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    def chained(handler: Callable[[int, FrameType | None], Any]) -> Handler:
        def on_signal(signum: int, frame: FrameType | None) -> None:
            loop.call_soon_threadsafe(closing.set)  # wakes the loop even if it sleeps in select
            handler(signum, frame)

        return on_signal

    installed: dict[int, Handler] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if callable(handler):  # a server's handler to chain to; never replace SIG_DFL/SIG_IGN
            previous[sig] = handler
            installed[sig] = chained(handler)
            signal.signal(sig, installed[sig])
    try:
        yield
    finally:
        for signum, original in previous.items():
            # uvicorn may already have put back the handlers it found
            if signal.getsignal(signum) is installed[signum]:
                signal.signal(signum, original)
