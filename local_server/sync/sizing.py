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
#: the first chunks, before the link's rate is known
START_CHUNK_BYTES = 64 * 1024


def chunk_bytes(rate: float | None, streams: int, seconds: float, ceiling: int) -> int:
    """Size of the next attachment chunk: `seconds` of the link's measured rate, shared by the
    `streams` uploads travelling together, so that a cut costs at most that much of the link."""
    if rate is None:
        return min(START_CHUNK_BYTES, ceiling)
    share = rate * seconds / max(1, streams)
    return int(max(min(MIN_CHUNK_BYTES, ceiling), min(ceiling, share)))
