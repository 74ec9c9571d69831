"""The circuit breaker's states on a hand-driven clock."""

from __future__ import annotations

from local_server.sync.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_and_lets_one_probe_per_interval() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, probe_interval=10, clock=clock)
    for _ in range(2):
        breaker.failed()
        assert breaker.admit()
    breaker.failed()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.admit()
    assert breaker.seconds_to_probe() == 10
    clock.now += 10
    assert breaker.admit()  # the probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.admit()  # nobody else while it is out
    # and nobody spins waiting for it: the wait is a whole interval (the close wakes them)
    assert breaker.seconds_to_probe() == 10
    breaker.failed()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.admit()
    clock.now += 9.9
    assert not breaker.admit()
    clock.now += 0.1
    assert breaker.admit()


def test_an_answer_closes_it_and_wakes_listeners() -> None:
    clock = Clock()
    woken: list[bool] = []
    breaker = CircuitBreaker(threshold=1, probe_interval=5, clock=clock)
    breaker.on_close(lambda: woken.append(True))
    breaker.failed()
    clock.now += 5
    assert breaker.admit()
    breaker.succeeded()
    assert breaker.state is BreakerState.CLOSED
    assert woken == [True]
    assert breaker.admit() and breaker.admit()
    breaker.succeeded()
    assert woken == [True]  # closing twice wakes once


def test_a_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(threshold=2, probe_interval=5, clock=Clock())
    breaker.failed()
    breaker.succeeded()
    breaker.failed()
    assert breaker.state is BreakerState.CLOSED


def test_retry_after_opens_at_once_for_that_long() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=5, probe_interval=5, clock=clock)
    breaker.failed(wait=30)
    assert breaker.state is BreakerState.OPEN
    assert breaker.seconds_to_probe() == 30


def test_an_unused_probe_is_handed_to_the_next_caller() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, probe_interval=5, clock=clock)
    breaker.failed()
    clock.now += 5
    assert breaker.admit()
    breaker.unused_probe()
    assert breaker.admit()
