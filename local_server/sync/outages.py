"""The link's outages: when the centre was out of reach, for how long, and why.

An outage begins when the link declares the centre unreachable: `threshold` exchanges in a row
failed (the count that opens the circuit breaker). It is dated from the first of those failures
and ends at the next exchange that succeeds. Each is logged twice, once as it begins and once as
it ends with its duration, never per probe; it is kept in memory for /status and written to the
node's database (`store.outages`) so today's and the last week's survive a restart. An outage
still open when the process stopped stays open and ends at the new process's first success.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from ektp_sync.storage import utcnow
from local_server.store.outages import Outage, OutageStore

logger = logging.getLogger(__name__)

#: how far back /status shows outages, and how long the database keeps them
HISTORY = dt.timedelta(days=7)
KEPT = dt.timedelta(days=8)


def describe_seconds(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 120:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


class OutageLog:
    """The outages of one link: the current one (if any) and those of the last `HISTORY`."""

    def __init__(self, store: OutageStore | None = None) -> None:
        self._store = store
        self.current: Outage | None = None
        self._past: list[Outage] = []
        self._writes: asyncio.Task[None] | None = None

    async def load(self) -> None:
        """At start: the history kept in the database, and an outage left open by the last run."""
        if self._store is None:
            return
        found = await self._store.since(utcnow() - HISTORY)
        self._past = [o for o in found if o.ended_at is not None]
        still_open = [o for o in found if o.ended_at is None]
        if still_open and self.current is None:
            self.current = still_open[-1]
            logger.warning(
                "link to centre down since %s, as the previous run left it (%s); it ends at "
                "the first exchange that succeeds",
                _clock(self.current.started_at),
                self.current.cause,
            )

    @property
    def open(self) -> bool:
        return self.current is not None

    def begin(
        self, started_at: dt.datetime, cause: str, failures: int, probe_seconds: float
    ) -> None:
        if self.current is not None:
            return
        self.current = Outage(started_at, None, cause)
        logger.warning(
            "link to centre down since %s: %d exchanges in a row failed (%s); "
            "one probe every %g s until it answers",
            _clock(started_at),
            failures,
            cause,
            probe_seconds,
        )
        if self._store is not None:
            self._write(self._store.begin, self.current, utcnow() - KEPT)

    def end(self) -> None:
        outage = self.current
        if outage is None:
            return
        now = utcnow()
        ended = Outage(outage.started_at, now, outage.cause)
        self.current = None
        self._past.append(ended)
        logger.warning(
            "link to centre back after %s (down since %s: %s)",
            describe_seconds(seconds_of(ended, now)),
            _clock(outage.started_at),
            outage.cause,
        )
        if self._store is not None:
            self._write(self._store.end, now)

    def history(self, now: dt.datetime | None = None) -> list[Outage]:
        """Outages of the last `HISTORY`, newest first, the current one included."""
        now = now or utcnow()
        horizon = now - HISTORY
        self._past = [o for o in self._past if o.ended_at is None or o.ended_at > horizon]
        outages = list(reversed(self._past))
        return [self.current, *outages] if self.current is not None else outages

    def _write(self, write: Callable[..., Awaitable[None]], *args: object) -> None:
        """Write in the background, in order: the loops report an exchange without waiting for
        the database, and an outage's end is never written before its beginning."""
        previous = self._writes

        async def after_previous() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            try:
                await write(*args)
            except Exception:
                logger.exception("could not store the link's outage history")

        self._writes = asyncio.get_running_loop().create_task(after_previous())

    async def flush(self) -> None:
        """Wait for the writes still on their way (at shutdown)."""
        if self._writes is not None:
            await asyncio.gather(self._writes, return_exceptions=True)


def seconds_of(outage: Outage, now: dt.datetime) -> float:
    """How long the outage lasted (so far, while it is open)."""
    return max(0.0, ((outage.ended_at or now) - outage.started_at).total_seconds())


def _clock(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")
