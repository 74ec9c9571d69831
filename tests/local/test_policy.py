"""The retry policy: full jitter within [0, cap], Retry-After as a floor."""

from __future__ import annotations

import datetime as dt

from local_server.sync.client import parse_retry_after
from local_server.sync.policy import RetryPolicy


def test_full_jitter_stays_within_zero_and_the_exponential_bound() -> None:
    policy = RetryPolicy(base=1.0, cap=30.0)
    for attempts in range(1, 12):
        bound = min(30.0, 1.0 * 2 ** (attempts - 1))
        delays = [policy.delay(attempts) for _ in range(200)]
        assert all(0.0 <= d <= bound for d in delays)
    # jitter means spread, not one fixed value
    assert len({round(policy.delay(8), 6) for _ in range(50)}) > 1


def test_delay_never_exceeds_the_cap() -> None:
    policy = RetryPolicy(base=2.0, cap=5.0)
    assert max(policy.delay(40) for _ in range(500)) <= 5.0


def test_retry_after_is_a_floor() -> None:
    policy = RetryPolicy(base=0.01, cap=0.1)
    assert all(policy.delay(3, retry_after=7.0) >= 7.0 for _ in range(100))


def test_retry_after_header_forms() -> None:
    now = dt.datetime(2026, 11, 29, 3, 0, tzinfo=dt.UTC)
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("Sun, 29 Nov 2026 03:00:30 GMT", now) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
