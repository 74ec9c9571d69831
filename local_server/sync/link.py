"""What the pusher and the puller share about the centre, so they act on the link as one.

One connection pool, one view of the link's health, one retry policy, one circuit breaker (a
dead centre is probed once, not by both loops) and one stop signal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ektp_sync.config import LocalSettings
from local_server.sync.breaker import CircuitBreaker
from local_server.sync.client import CentralClient
from local_server.sync.health import LinkMonitor
from local_server.sync.policy import RetryPolicy
from local_server.sync.stopping import StopSignal


@dataclass
class CentreLink:
    client: CentralClient
    health: LinkMonitor
    policy: RetryPolicy
    breaker: CircuitBreaker
    signal: StopSignal = field(default_factory=StopSignal)

    @classmethod
    def of(cls, settings: LocalSettings, client: CentralClient | None = None) -> CentreLink:
        breaker = CircuitBreaker(settings.breaker_threshold, settings.breaker_probe_seconds)
        return cls(
            client=client or CentralClient(settings),
            health=LinkMonitor(url=settings.central_url, breaker=breaker),
            policy=RetryPolicy(settings.backoff_base, settings.backoff_cap),
            breaker=breaker,
        )
