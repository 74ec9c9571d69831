"""The link to the centre as one object, so the pusher and the puller act on it as one.

One connection pool, one view of the link's health, one retry policy, one circuit breaker (a
dead centre is probed once, not by both loops) and one stop signal. The loops tell it how each
exchange ended, `succeeded()` or `failed(error)`, and it keeps health, breaker, outages, the
measured rate and round trip, and the counters of /metrics in step; they never reach into its
parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from ektp_sync.config import LocalSettings
from ektp_sync.storage import utcnow
from ektp_sync.wire import DecisionsPage, IntakeResponse, LinkFigures, LinkHealth, PublicKey
from local_server.errors import BatchTooLarge, CentreExchangeError, CentreUnreachable
from local_server.store.outages import Outage, OutageStore
from local_server.sync.breaker import BreakerState, CircuitBreaker
from local_server.sync.client import CentreClient
from local_server.sync.health import LinkMonitor
from local_server.sync.meters import ExchangeCounts, RoundTrips, Throughput, failure_kind
from local_server.sync.outages import OutageLog
from local_server.sync.policy import RetryPolicy
from local_server.sync.series import ThroughputSeries
from local_server.sync.sizing import BatchSizer
from local_server.sync.stopping import StopSignal

#: the pusher's ceiling when a link is made without settings (tests): LocalSettings' default
_DEFAULT_BATCH_BYTES = 4 * 1024 * 1024


@dataclass
class CentreLink:
    client: CentreClient
    health: LinkMonitor
    policy: RetryPolicy
    breaker: CircuitBreaker
    signal: StopSignal = field(default_factory=StopSignal)
    sizer: BatchSizer = field(default_factory=lambda: BatchSizer(_DEFAULT_BATCH_BYTES))
    round_trips: RoundTrips = field(default_factory=RoundTrips)
    throughput: Throughput = field(default_factory=Throughput)
    outages: OutageLog = field(default_factory=OutageLog)
    counts: ExchangeCounts = field(default_factory=ExchangeCounts)
    series: ThroughputSeries = field(default_factory=ThroughputSeries)
    #: why the centre is not trusted (it offers another key than the pinned one); None: it is
    refused: str | None = None

    @classmethod
    def of(
        cls,
        settings: LocalSettings,
        client: CentreClient | None = None,
        outages: OutageStore | None = None,
    ) -> CentreLink:
        """The link of `settings`; with `outages`, its outage history is kept in the database."""
        return cls(
            client=client or CentreClient(settings),
            health=LinkMonitor(url=settings.central_url),
            policy=RetryPolicy(settings.backoff_base, settings.backoff_cap),
            breaker=CircuitBreaker(settings.breaker_threshold, settings.breaker_probe_seconds),
            sizer=BatchSizer(settings.batch_bytes, settings.batch_seconds),
            outages=OutageLog(outages),
        )

    # -- how an exchange ended: the one place that keeps the link's bookkeeping in step

    def succeeded(
        self, *, sent_bytes: int = 0, seconds: float = 0.0, round_trip: float | None = None
    ) -> None:
        """The centre answered as asked. An upload says how many bytes took how long (the
        link's rate); an exchange the centre did not hold says its `round_trip`."""
        self.health.succeeded()
        self.breaker.succeeded()
        self.outages.end()
        if sent_bytes:
            # batches in flight share the link, this one among them
            self.sizer.observe(sent_bytes, seconds, max(1, self.in_flight))
            self.throughput.acknowledged(sent_bytes, seconds)
            self.series.add(utcnow(), sent_bytes)
        if round_trip is not None:
            self.round_trips.observe(round_trip)

    def failed(self, error: BaseException) -> None:
        """The exchange did not succeed; `error` says whose fault it was.

        A 413 proves the link and the centre work (the batch was too big): contact, and the
        breaker closes. Another exchange error counts against the link, and a Retry-After opens
        the breaker at once; `threshold` of them in a row begin an outage. Anything else is a
        bug of ours: only the breaker hears of it, so a probe that ends that way does not hold
        the circuit half-open for ever.
        """
        self.counts.failures[failure_kind(error)] += 1
        if isinstance(error, BatchTooLarge):
            self.health.contacted()
            self.breaker.succeeded()
            self.outages.end()
        elif isinstance(error, CentreExchangeError):
            self.health.failed(error.message, answered=not isinstance(error, CentreUnreachable))
            self.breaker.failed(error.retry_after)
            failures = self.health.consecutive_failures
            if failures >= self.breaker.threshold:
                self.outages.begin(
                    self.health.failing_since or utcnow(),
                    error.message,
                    failures,
                    self.breaker.probe_interval,
                )
        else:
            self.breaker.failed()

    def refuse(self, reason: str | None) -> None:
        """The centre is refused (`reason`: it offers a key other than the pinned one), or no
        longer (None): the pusher sends it nothing meanwhile."""
        if reason is not None:
            self.health.problem(reason)
        self.refused = reason

    def problem(self, message: str) -> None:
        """Something an operator must see that is not a failed exchange (e.g. a new key)."""
        self.health.problem(message)

    # -- the exchanges (cut short when the node stops)

    async def submit(self, items: Sequence[str]) -> IntakeResponse:
        """Send a batch; abandoned only after the shutdown grace period."""
        self.counts.upload_attempts += len(items)
        return await self.signal.unless_abandoned(self.client.submit(items))

    async def decisions(self, after: str | None, limit: int, wait: float) -> DecisionsPage:
        """One page of the feed; dropped at once on shutdown (it changes nothing at the centre)."""
        return await self.signal.unless_stopping(self.client.decisions(after, limit, wait))

    async def keys(self) -> PublicKey:
        return await self.signal.unless_abandoned(self.client.keys())

    @contextlib.contextmanager
    def sending(self, size: int = 0) -> Iterator[None]:
        """A batch of `size` bytes is travelling for as long as this lasts (shown on /status,
        and counted by the estimates)."""
        self.health.in_flight_batches += 1
        key = self.throughput.sent(size)
        try:
            yield
        finally:
            self.throughput.answered(key)
            self.health.in_flight_batches -= 1

    @property
    def in_flight(self) -> int:
        return self.health.in_flight_batches

    # -- pacing: the batch size, the breaker, the retry policy, the stop signal

    def batch_bytes(self) -> int:
        """How many bytes the next upload should carry: a few seconds at the measured rate."""
        return self.sizer.batch_bytes()

    def admit(self) -> bool:
        """May an exchange go now? When the circuit is open, the first caller after the wait
        is the probe."""
        return self.breaker.admit()

    @property
    def probing(self) -> bool:
        return self.breaker.probing

    def unused_probe(self) -> None:
        """The admitted probe found nothing to send: the next exchange may probe at once."""
        self.breaker.unused_probe()

    def until_probe(self) -> float:
        """Seconds until an exchange may go (0 while the circuit is closed)."""
        return self.breaker.seconds_to_probe()

    def on_recovery(self, listener: Callable[[], None]) -> None:
        """Call `listener` when the centre answers again after the circuit opened."""
        self.breaker.on_close(listener)

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds before another try after `attempts` failures (never under Retry-After)."""
        return self.policy.delay(attempts, retry_after)

    @property
    def stopping(self) -> bool:
        return self.signal.stopping

    def stop(self) -> None:
        """Take no new work; exchanges already travelling may still finish."""
        self.signal.stop()

    def abandon(self) -> None:
        """Cut the exchanges still travelling (after the grace period)."""
        self.signal.abandon()

    @property
    def closed(self) -> bool:
        return self.client.closed

    async def aclose(self) -> None:
        await self.client.aclose()

    async def sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        """Sleep up to `seconds`; sooner when the node stops or `wake` is set."""
        await self.signal.sleep(seconds, wake)

    # -- what operators see

    @property
    def up(self) -> bool | None:
        """False during an outage; None before the first exchange ended."""
        if self.outages.open:
            return False
        return None if self.health.reachable is None else True

    def gone_up(self) -> int:
        """Bytes of the uploads still travelling that have probably crossed the link already."""
        return self.throughput.gone_up()

    def outage_history(self, now: dt.datetime) -> list[Outage]:
        """Outages of the last week, newest first, the current one included."""
        return self.outages.history(now)

    def figures(self) -> LinkFigures:
        """The link's state and measurements as /status shows them."""
        rtt = self.round_trips.seconds
        return LinkFigures(
            up=self.up,
            rate_bytes_per_s=self.throughput.rate,
            rtt_ms=None if rtt is None else rtt * 1000.0,
        )

    def snapshot(self) -> LinkHealth:
        health = self.health
        return LinkHealth(
            url=health.url,
            reachable=health.reachable,
            breaker=self.breaker.state.value,
            next_probe_in_seconds=self.breaker.seconds_to_probe(),
            last_contact_at=health.last_contact_at,
            last_error=health.last_error,
            consecutive_failures=health.consecutive_failures,
            in_flight_batches=health.in_flight_batches,
        )

    def held_back_because(self) -> str | None:
        """Why queued records are not being sent right now, in an operator's words."""
        if self.refused is not None:
            return self.refused
        if self.breaker.state is BreakerState.CLOSED:
            return None
        return (
            f"circuit open: the centre failed {self.health.consecutive_failures} exchanges in a "
            f"row ({self.health.last_error or 'no answer'}); one probe every "
            f"{self.breaker.probe_interval:g}s, next in {self.breaker.seconds_to_probe():.0f}s"
        )
