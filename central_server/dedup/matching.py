"""The 1:N matching kernel: each probe's best score over gallery rows, on every core, in cache.

Why it is shaped this way (figures in docs/performance.md, "De-duplication"):

- **No score matrix.** Scores are made one block of gallery rows at a time into a buffer of
  `SCORE_BYTES` that stays in the caches, reduced at once to a running best per probe.
  A batch of 200 probes against 1M identities would otherwise write (and read back) 800 MB.
- **One BLAS thread per core, our own threads over the rows.** OpenBLAS's threads split each
  small product anew and wait for each other on every block; our threads each running
  single-threaded products over spans of the gallery reach most of the machine's sgemm peak
  where BLAS threading reached a third of it. So this module sets the process's BLAS to one
  thread (the centre uses BLAS for nothing else) and keeps a pool of one thread per core.
- **One probe is a pass over memory**: matrix-vector products over big blocks, the gallery's
  spans shared among the threads like a batch's. Nothing is reused from cache, so the pass is
  bound by how fast the cores can read, and one core cannot read as fast as two: on the EPYC
  of 2026-12 one thread reached 0.29–0.36 of the two cores' read bandwidth and both threads
  0.66–0.85 (an earlier machine, whose one core read about as fast as two, ran one probe on
  one thread; docs/performance.md).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

#: bytes of scores per block (1,310 gallery rows for 200 probes): the fastest of 256 KiB … 2 MiB
#: measured on this machine (1 MiB of L2 per core, 32 MiB of L3); smaller blocks pay BLAS's
#: per-call packing of the probes more often, bigger ones spill the scores out of the caches
SCORE_BYTES = 1024 * 1024
#: rows per block when few probes make each block's scores small (a single probe): big blocks
#: keep the memory streams long
MAX_BLOCK_ROWS = 65_536
MIN_BLOCK_ROWS = 256
#: below this many rows (16 MiB of gallery) a pass is too short to be worth handing to other
#: threads: waking them on a busy machine costs up to milliseconds
PARALLEL_ROWS = 32_768
THREADS = max(1, len(os.sched_getaffinity(0)))
SPANS_PER_THREAD = 4

# the process's BLAS runs one thread per call; our pool supplies the parallelism (see above).
# Set at import, so a process forked after it (`serve --workers N`, ektp_sync/prefork.py)
# inherits the limit; OpenBLAS stops its idle threads at a fork and starts none at one thread
_blas_limit = threadpool_limits(limits=1, user_api="blas")
_pool: tuple[int, ThreadPoolExecutor] | None = None


def pool() -> ThreadPoolExecutor:
    """One thread per core (numpy releases the GIL in the products and reductions), made on
    first use in each process: threads do not cross a fork, and a forked worker must not
    inherit a pool whose threads only exist in its parent."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(THREADS, thread_name_prefix="match"))
    return _pool[1]


def block_rows(probes: int) -> int:
    """Gallery rows per block for `probes` probes: their scores fill `SCORE_BYTES`."""
    return int(np.clip(SCORE_BYTES // (4 * max(probes, 1)), MIN_BLOCK_ROWS, MAX_BLOCK_ROWS))


def best_scores(matrix: np.ndarray, queries: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Best score of each row of `queries` (float32, probes × dims) over the rows of `matrix`
    (float32, rows × dims), leaving out row `own[i]` for probe i (-1: none); -inf where no row
    is left. Exact float32 products, the same as `matrix @ query` row by row."""
    count, size = len(queries), len(matrix)
    best = np.full(count, -np.inf, dtype=np.float32)
    if count == 0 or size == 0:
        return best
    owners = np.nonzero(own >= 0)[0]
    owners = owners[np.argsort(own[owners], kind="stable")]  # probes with an own row, by row
    if size < PARALLEL_ROWS or THREADS == 1:
        _best_over(matrix, queries, 0, size, own, owners, best)
        return best
    # a few spans per thread, taken in turn: a thread the machine holds back delays only its
    # own span, not half of the pass (the machine is shared)
    spans = min(THREADS * SPANS_PER_THREAD, size // (PARALLEL_ROWS // 2))
    bounds = np.linspace(0, size, spans + 1).astype(int)
    parts = [np.full(count, -np.inf, dtype=np.float32) for _ in range(spans)]
    futures = [
        pool().submit(_best_over, matrix, queries, int(lo), int(hi), own, owners, part)
        for lo, hi, part in zip(bounds[:-1], bounds[1:], parts, strict=True)
    ]
    for future in futures:
        future.result()
    for part in parts:
        np.maximum(best, part, out=best)
    return best


def _best_over(
    matrix: np.ndarray,
    queries: np.ndarray,
    lo: int,
    hi: int,
    own: np.ndarray,
    owners: np.ndarray,
    best: np.ndarray,
) -> None:
    """Running best of rows lo…hi into `best` (one thread's share; numpy releases the GIL)."""
    count = len(queries)
    step = block_rows(count)
    single = queries[0] if count == 1 else None
    scores = np.empty((count, min(step, hi - lo)), dtype=np.float32)
    owner_rows = own[owners]
    for start in range(lo, hi, step):
        stop = min(start + step, hi)
        block = scores[:, : stop - start]
        if single is not None:
            np.matmul(matrix[start:stop], single, out=block[0])
        else:
            np.matmul(queries, matrix[start:stop].T, out=block)
        first, last = np.searchsorted(owner_rows, (start, stop))
        if first < last:  # a probe's own identity is no "other"
            mine = owners[first:last]
            block[mine, own[mine] - start] = -np.inf
        np.maximum(best, block.max(axis=1), out=best)
