"""What the link measures for the operator's estimates, on a clock the test moves: the
throughput (a windowed maximum of aggregate samples), the bytes already gone up, the round trip."""

from __future__ import annotations

import pytest

from local_server.sync.meters import RoundTrips, Throughput


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_uploads_travelling_together_are_one_sample_of_the_link() -> None:
    clock = Clock()
    meter = Throughput(clock=clock)
    assert meter.rate is None
    # four uploads of 100 kB leave together and share a 100 kB/s link: all answered at 4 s
    keys = [meter.sent(100_000) for _ in range(4)]
    clock.now += 4.0
    for key in keys:
        meter.acknowledged(100_000, 4.0)
        meter.answered(key)
    # the last one answered saw the four cross in its four seconds: the link's rate, not its
    # own share of it (25 kB/s)
    assert meter.rate == pytest.approx(100_000)


def test_an_upload_is_not_credited_with_bytes_that_crossed_before_it_left() -> None:
    clock = Clock()
    meter = Throughput(clock=clock)
    meter.sent(200_000)
    clock.now += 2.0
    late = meter.sent(10_000)  # leaves when the big one is nearly through
    clock.now += 0.1
    meter.acknowledged(200_000, 2.1)
    clock.now += 0.1
    meter.acknowledged(10_000, 0.2)
    meter.answered(late)
    # 210 kB in the 2.2 s since the big one left, not 210 kB in the small one's 0.2 s
    assert meter.rate == pytest.approx(210_000 / 2.2)


def test_a_trickle_reads_low_and_the_largest_recent_sample_is_kept() -> None:
    clock = Clock()
    meter = Throughput(clock=clock, window=3)
    clock.now += 2.0
    meter.acknowledged(200_000, 2.0)  # a backlog's upload: 100 kB/s
    for _ in range(2):
        clock.now += 10.0
        meter.acknowledged(1_000, 1.0)  # one record on an idle link: round-trip bound
    assert meter.rate == pytest.approx(100_000)
    clock.now += 10.0
    meter.acknowledged(1_000, 1.0)  # the big sample has left the window
    assert meter.rate == pytest.approx(1_000)


def test_what_travelling_uploads_have_probably_sent_already() -> None:
    clock = Clock()
    meter = Throughput(clock=clock)
    clock.now += 1.0
    meter.acknowledged(100_000, 1.0)  # 100 kB/s
    assert meter.gone_up() == 0  # nothing travelling
    meter.sent(100_000)
    meter.sent(30_000)
    clock.now += 0.5
    # each has had half the rate for half a second: 25 kB each
    assert meter.gone_up() == 50_000
    clock.now += 1.0
    # the small one is all gone (30 kB), the big one 75 kB
    assert meter.gone_up() == 105_000


def test_the_round_trip_is_the_smallest_recent_unheld_exchange() -> None:
    trips = RoundTrips(window=3)
    assert trips.seconds is None
    for seconds in (0.9, 0.6, 4.0):  # the 4 s one waited at the centre
        trips.observe(seconds)
    assert trips.seconds == 0.6
    for seconds in (0.7, 0.8, 0.75):  # the link got slower: the old minimum leaves the window
        trips.observe(seconds)
    assert trips.seconds == 0.7
