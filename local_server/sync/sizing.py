"""Batch sizes that follow the link: a few seconds of sending per batch, never more.

On a 256 KB/s satellite link a fixed 4 MB batch is 16 s on the wire; a connection reset in
its last second throws all of it away, and a lease can run out before it arrives. On loopback
the same 4 MB is a blink. So the pusher measures the link's goodput from the batches it sends
and sizes the next batch to about `target_seconds` of it, between a floor (so per-request
overhead stays small) and the configured `batch_bytes` ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_BATCH_BYTES = 32 * 1024


@dataclass
class BatchSizer:
    ceiling: int
    target_seconds: float = 2.0
    start_bytes: int = 256 * 1024
    smoothing: float = 0.3
    rate: float | None = None  # estimated link goodput, bytes/s, over all batches in flight

    def observe(self, sent_bytes: int, seconds: float, in_flight: int) -> None:
        """A batch of `sent_bytes` took `seconds`, sharing the link with `in_flight` batches."""
        if seconds <= 0 or sent_bytes <= 0:
            return
        # batches in flight share the link, so each one sees only its part of the rate
        sample = sent_bytes / seconds * max(1, in_flight)
        if self.rate is None:
            self.rate = sample
        else:
            self.rate += self.smoothing * (sample - self.rate)

    def batch_bytes(self) -> int:
        floor = min(MIN_BATCH_BYTES, self.ceiling)
        if self.rate is None:
            return max(floor, min(self.start_bytes, self.ceiling))
        return int(max(floor, min(self.ceiling, self.rate * self.target_seconds)))


#: attachment chunks never smaller: below this the round trip per chunk dominates
MIN_CHUNK_BYTES = 16 * 1024
#: the first chunks, before the link is measured
START_CHUNK_BYTES = 64 * 1024


@dataclass
class ChunkSizer:
    """Chunk sizes of the attachment uploads (heavy packets), from the link's capacity.

    A chunk's goodput is bounded by the chunk itself (one chunk per round trip per stream), so
    sizing chunks from their own goodput would shrink them to the floor and the link would
    idle. Each chunk therefore measures the link's capacity instead: its bytes, times the
    streams sharing the link, over the time it took beyond the round trip. A stream then sends
    its share of `seconds` plus one round trip of that capacity: together the streams keep the
    link full across their round trips, and a cut costs at most one chunk.
    """

    ceiling: int
    seconds: float = 1.0
    smoothing: float = 0.3
    capacity: float | None = None  # bytes/s the link carries, estimated
    round_trip: float | None = None  # the shortest chunk seen: round trip plus a little

    def observe(self, sent_bytes: int, took: float, streams: int) -> None:
        if sent_bytes <= 0 or took <= 0:
            return
        self.round_trip = took if self.round_trip is None else min(self.round_trip, took)
        # at least a tenth of the chunk's time is transfer: a noisy round trip cannot
        # make the capacity infinite
        sending = max(took - self.round_trip, took / 10)
        sample = sent_bytes * max(1, streams) / sending
        if self.capacity is None:
            self.capacity = sample
        else:
            self.capacity += self.smoothing * (sample - self.capacity)

    def chunk_bytes(self, streams: int) -> int:
        floor = min(MIN_CHUNK_BYTES, self.ceiling)
        if self.capacity is None:
            return min(START_CHUNK_BYTES, self.ceiling)
        share = self.capacity * (self.seconds + (self.round_trip or 0.0)) / max(1, streams)
        return int(max(floor, min(self.ceiling, share)))
