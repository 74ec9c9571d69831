"""When to try again: capped exponential backoff with full jitter (tenacity), Retry-After floor."""

from __future__ import annotations

from dataclasses import dataclass, field

from tenacity import RetryCallState, wait_random_exponential
from tenacity.wait import wait_base


@dataclass(frozen=True)
class RetryPolicy:
    """`delay(n)` is the wait before attempt n+1 after n failed attempts.

    Full jitter (uniform in [0, min(cap, base·2^(n-1))]) spreads the retries of many offices
    that lost the link at the same moment, so the centre is not hit by a synchronised wave.
    """

    base: float = 1.0
    cap: float = 300.0
    _wait: wait_base = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_wait", wait_random_exponential(multiplier=self.base, max=self.cap)
        )

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after `attempts` failures; never less than the server's Retry-After."""
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = max(1, attempts)
        delay = float(self._wait(state))
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay
