"""Batch and chunk sizes follow the measured link: seconds of sending, within floor and ceiling."""

from __future__ import annotations

from local_server.sync.sizing import MIN_BATCH_BYTES, BatchSizer, ChunkSizer


def test_starts_modest_then_follows_a_slow_link() -> None:
    sizer = BatchSizer(ceiling=4 * 1024 * 1024, target_seconds=2.0)
    assert sizer.batch_bytes() == 256 * 1024
    # 4 batches of 256 KB share a 256 KB/s link: each takes about 4 s
    for _ in range(20):
        sizer.observe(256 * 1024, 4.0, in_flight=4)
    assert sizer.batch_bytes() == 512 * 1024  # two seconds of 256 KB/s


def test_a_fast_link_gets_the_ceiling_and_a_crawl_the_floor() -> None:
    fast = BatchSizer(ceiling=4 * 1024 * 1024)
    fast.observe(200_000, 0.01, in_flight=1)
    assert fast.batch_bytes() == 4 * 1024 * 1024
    crawl = BatchSizer(ceiling=4 * 1024 * 1024)
    crawl.observe(10_000, 10.0, in_flight=1)
    assert crawl.batch_bytes() == MIN_BATCH_BYTES


def test_the_estimate_moves_smoothly_and_ignores_empty_samples() -> None:
    sizer = BatchSizer(ceiling=10**9, target_seconds=1.0, smoothing=0.5)
    sizer.observe(1_000_000, 1.0, in_flight=1)
    sizer.observe(0, 1.0, in_flight=1)
    sizer.observe(1_000, 0.0, in_flight=1)
    assert sizer.batch_bytes() == 1_000_000
    sizer.observe(3_000_000, 1.0, in_flight=1)
    assert sizer.batch_bytes() == 2_000_000


def test_a_small_ceiling_wins_over_the_floor() -> None:
    assert BatchSizer(ceiling=1000).batch_bytes() == 1000


def test_chunks_follow_the_links_capacity_not_their_own_goodput() -> None:
    # 500 KB/s, 600 ms round trip, 4 streams: a 16 KB chunk takes the round trip plus its share
    sizer = ChunkSizer(ceiling=512 * 1024, seconds=1.0)
    assert sizer.chunk_bytes(4) == 64 * 1024  # before any measurement
    for _ in range(10):
        size = sizer.chunk_bytes(4)
        sizer.observe(size, 0.6 + size / (500_000 / 4), streams=4)
    # sized from goodput, chunks would shrink to the floor (16 KB / 0.7 s each); from capacity
    # each stream sends its share of a second plus a round trip of the link
    assert sizer.capacity is not None and 300_000 < sizer.capacity < 700_000
    assert 100_000 < sizer.chunk_bytes(4) <= 512 * 1024
    assert sizer.chunk_bytes(4) > sizer.chunk_bytes(8)


def test_chunks_stay_between_floor_and_ceiling() -> None:
    sizer = ChunkSizer(ceiling=32 * 1024)
    sizer.observe(32 * 1024, 0.01, streams=1)
    assert sizer.chunk_bytes(1) == 32 * 1024
    slow = ChunkSizer(ceiling=512 * 1024)
    slow.observe(16 * 1024, 20.0, streams=1)
    assert slow.chunk_bytes(16) == 16 * 1024
