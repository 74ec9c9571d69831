"""Graceful stop of the sync loops without cancelling them in the middle of a database write.

Cancelling a task while it is inside a database call can leave a transaction open (and, with
some drivers, the cancellation turns into an ordinary exception that a retry loop swallows, so
the task never ends). The loops therefore stop at points of their own choosing: they stop
claiming new work when `stopping` is set, and a network exchange still travelling when the
grace period ends is abandoned (its batch is released, to be sent again after the restart; the
`submission_id` makes that harmless).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class Abandoned(Exception):
    """The exchange was cut short because the node is shutting down."""


class StopSignal:
    def __init__(self) -> None:
        self._stopping = asyncio.Event()
        self._abandon = asyncio.Event()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """Take no new work; exchanges already travelling may still finish."""
        self._stopping.set()

    def abandon(self) -> None:
        """Cut the exchanges still travelling (after the grace period)."""
        self._stopping.set()
        self._abandon.set()

    async def sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        """Sleep up to `seconds`; return early when stopping (or when `wake` is set)."""
        events = [self._stopping] + ([wake] if wake is not None else [])
        waiters = [asyncio.ensure_future(e.wait()) for e in events]
        try:
            await asyncio.wait(waiters, timeout=max(0.0, seconds), return_when="FIRST_COMPLETED")
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def unless_abandoned(self, awaitable: Awaitable[T]) -> T:
        """Await a network exchange, or raise `Abandoned` if the node gives up on it first."""
        return await self._cut_by(self._abandon, awaitable)

    async def unless_stopping(self, awaitable: Awaitable[T]) -> T:
        """Await an exchange that is safe to drop at once (it changes nothing at the centre,
        e.g. a long poll of the decisions feed), or raise `Abandoned` when the stop begins."""
        return await self._cut_by(self._stopping, awaitable)

    async def _cut_by(self, event: asyncio.Event, awaitable: Awaitable[T]) -> T:
        work = asyncio.ensure_future(awaitable)
        cut = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({work, cut}, return_when="FIRST_COMPLETED")
        except asyncio.CancelledError:
            work.cancel()
            raise
        finally:
            cut.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await work
            raise Abandoned("the node is shutting down")
        return work.result()
