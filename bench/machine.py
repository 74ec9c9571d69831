"""The machine's own limits for matching, measured in the same run as what they bound.

- **sgemm peak** (compute bound of a batch): float32 GFLOP/s of a large square product
  (2048³, where packing and memory are negligible), the best of OpenBLAS threading it over all
  cores and of one single-threaded product per core at once; no matching can beat the cores'
  multiply-add rate.
- **Read bandwidth** (bound of one probe): GB/s of a pass over the given array, the best of
  `max` (one read, one compare a value: memory-bound) on one core and on every core; one probe
  must read every byte of the gallery once, so a pass over it is the least it can cost.

Each is measured right before and right after what it bounds, for as long as that takes, and
the ratio is taken per round: on a machine shared with others the load changes from one second
to the next, and only neighbours in time meet the same load.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from central_server.dedup.matching import THREADS, pool

PEAK_N = 2048
READ_CHUNK = 1 << 22  # floats per call of a read pass: long streams, few calls


def best_seconds(work: Callable[[], object], tries: int) -> float:
    best = float("inf")
    for _ in range(tries):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


class Limits:
    """Operands made once, so that each measurement is only the arithmetic or the pass."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self._a = [rng.standard_normal((PEAK_N, PEAK_N), dtype=np.float32) for _ in range(THREADS)]
        self._b = rng.standard_normal((PEAK_N, PEAK_N), dtype=np.float32)

    def sgemm_gflops(self, seconds: float) -> float:
        """GFLOP/s over about `seconds` (as long as what it is compared with, right beside it,
        so that both meet the same load): half of it OpenBLAS threading one product over every
        core, half one single-threaded product per core at once; the better of the two."""
        flops = 2 * PEAK_N**3
        a, b = self._a[0], self._b

        def threaded() -> None:
            with threadpool_limits(limits=THREADS, user_api="blas"):
                a @ b

        def per_core() -> None:
            for f in [pool().submit(np.matmul, a, self._b) for a in self._a]:
                f.result()

        return max(
            flops * runs / spent / 1e9
            for runs, spent in (
                _repeat(threaded, seconds / 2),
                _repeat(per_core, seconds / 2, THREADS),
            )
        )


def _repeat(work: Callable[[], object], seconds: float, per_call: int = 1) -> tuple[int, float]:
    """(products made, seconds spent) running `work` at least once and for about `seconds`."""
    runs, started = 0, time.perf_counter()
    while True:
        work()
        runs += per_call
        spent = time.perf_counter() - started
        if spent >= seconds:
            return runs, spent


def read_gbps(array: np.ndarray, tries: int = 3) -> float:
    """Best GB/s of one pass of `max` over `array` (one core, and split over every core)."""
    flat = array.reshape(-1)

    def span(lo: int, hi: int) -> None:
        for start in range(lo, hi, READ_CHUNK):
            flat[start : min(start + READ_CHUNK, hi)].max()

    bounds = np.linspace(0, len(flat), THREADS + 1).astype(int)

    def every_core() -> None:
        parts = [pool().submit(span, int(lo), int(hi)) for lo, hi in itertools.pairwise(bounds)]
        for f in parts:
            f.result()

    seconds = min(best_seconds(lambda: span(0, len(flat)), tries), best_seconds(every_core, tries))
    return array.nbytes / seconds / 1e9
