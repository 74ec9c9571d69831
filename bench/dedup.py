"""Benchmark 4: 1:N de-duplication against galleries of 10k … 1M identities.

Ours is the centre's `Gallery.best_others` (what the dedup engine calls per batch: block matching
with float32 BLAS, a probe's own identity excluded); the roofline is a bare numpy float32 matrix
product of the same probes with the same gallery rows and nothing else. Each gallery size runs
in a fresh process so that its memory is its own.
"""

from __future__ import annotations

import itertools
import multiprocessing
import statistics
import time
from typing import Any

import numpy as np

from bench.nodedb import rss_mib
from bench.report import Result
from central_server.dedup.gallery import Gallery
from ektp_sync.domain.biometrics import TEMPLATE_DIMENSIONS

PROBES = 200  # the centre's dedup batch size
#: rows per product of the roofline (its output must fit in memory): the fastest chunking of the
#: bare product we measured on this machine between 2k and 64k rows
ROOFLINE_ROWS = 16_384
BUILD_CHUNK = 50_000


def _unit_rows(rng: np.random.Generator, count: int) -> np.ndarray:
    rows = rng.standard_normal((count, TEMPLATE_DIMENSIONS), dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def _roofline(matrix: np.ndarray, probes: np.ndarray) -> float:
    """Seconds of the bare product probes × galleryᵀ, in chunks of gallery rows."""
    out = np.empty((len(probes), ROOFLINE_ROWS), dtype=np.float32)
    t = time.perf_counter()
    for start in range(0, len(matrix), ROOFLINE_ROWS):
        chunk = matrix[start : start + ROOFLINE_ROWS]
        np.matmul(probes, chunk.T, out=out[:, : len(chunk)])
    return time.perf_counter() - t


def measure(size: int, repeats: int) -> dict[str, Any]:
    """Build a gallery of `size` identities, then time block matching against the roofline."""
    rng = np.random.default_rng(size)
    before = rss_mib()[0]
    gallery = Gallery()
    for first in range(0, size, BUILD_CHUNK):
        rows = _unit_rows(rng, min(BUILD_CHUNK, size - first))
        for i, row in enumerate(rows, start=first):
            gallery.add(f"{i:016d}", row)
    gallery_mib = rss_mib()[0] - before
    probes = _unit_rows(rng, PROBES)
    # half the probes re-record enrolled people (their own row must be left out)
    niks = [f"{i * (size // PROBES):016d}" if i % 2 else f"X{i:015d}" for i in range(PROBES)]
    matrix = gallery._matrix[: len(gallery)]  # the same rows, for the bare product
    got = gallery.best_others(niks, probes)
    for k in range(4):  # block matching must agree with the one-probe path
        want, block = gallery.best_other(niks[k], probes[k]), got[k]
        if want is None or block is None or abs(want - block) > 1e-5:
            raise AssertionError(f"block match {block} != single match {want}")
    ours, bare = [], []
    for _ in range(repeats):  # interleaved, so load from other processes hits both alike
        t = time.perf_counter()
        gallery.best_others(niks, probes)
        ours.append(time.perf_counter() - t)
        bare.append(_roofline(matrix, probes))
    single = []
    for k in range(min(PROBES, 20)):  # the old path: one matrix-vector product per probe
        t = time.perf_counter()
        gallery.best_other(niks[k], probes[k])
        single.append(time.perf_counter() - t)
    return {
        "size": size,
        "ours_probes_per_s": PROBES / statistics.median(ours),
        "roofline_probes_per_s": PROBES / statistics.median(bare),
        "single_probes_per_s": 1 / statistics.median(single),
        "gallery_mib": gallery_mib,
        "matrix_mib": gallery._matrix.nbytes / 2**20,
        "peak_rss_mib": rss_mib()[1],
    }


def _measure_in_child(size: int, repeats: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        result: dict[str, Any] = pool.apply(measure, (size, repeats))
    return result


def run(quick: bool) -> Result:
    sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
    rows = [_measure_in_child(size, 21 if size < 1_000_000 else 11) for size in sizes]
    result = Result(
        "dedup",
        "1:N matching, batches of 200 probes (ours: Gallery.best_others; ref: bare float32"
        " matrix product over the same gallery)",
        target="≥ 0.7 of roofline at 1M, gallery ≤ 1 GiB, linear",
    )
    for row in rows:
        label = f"{row['size'] // 1000:,}k"
        result.add(f"probes/s @ {label}", row["ours_probes_per_s"], row["roofline_probes_per_s"])
        result.add(f"gallery memory @ {label}", row["gallery_mib"], unit="MiB")
    last = rows[-1]
    # cost per probe per identity stays flat when growth is linear: each step's ratio near 1
    for small, big in itertools.pairwise(rows):
        growth = (small["ours_probes_per_s"] * small["size"]) / (
            big["ours_probes_per_s"] * big["size"]
        )
        result.add(
            f"cost/identity {big['size']:,} vs {small['size']:,}", growth, unit="×, 1 = linear"
        )
    result.add(
        f"block vs one-probe path @ {last['size'] // 1000:,}k",
        last["ours_probes_per_s"],
        last["single_probes_per_s"],
        "probes/s",
    )
    ratio = last["ours_probes_per_s"] / last["roofline_probes_per_s"]
    if last["size"] < 1_000_000:
        result.met = None
        result.notes.append("quick run stops at 100k identities; the 1M target needs the full run")
    else:
        # linear: judged on the last step (below ~100k the gallery sits in the CPU caches)
        result.met = ratio >= 0.7 and last["gallery_mib"] <= 1024 and growth <= 1.5
    result.details = {"sizes": rows}
    return result
