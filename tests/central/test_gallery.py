"""The gallery: exact 1:N matching, growth, same-NIK exclusion, rollback, rows shared by workers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from central_server.dedup.gallery import Checkpoint, Gallery
from central_server.dedup.index import nik_key
from central_server.dedup.matching import best_scores
from central_server.dedup.rows import SharedRows, remove_shared

from .factories import near, unit


def f32(v: np.ndarray) -> np.ndarray:
    return v.astype(np.float32)


def test_empty_gallery_has_no_matches() -> None:
    gallery = Gallery()
    t = f32(unit(np.random.default_rng(1)))
    assert gallery.similarity_to("A", t) is None
    assert gallery.best_other("A", t) is None
    assert len(gallery) == 0


def test_same_nik_and_best_other_are_kept_apart() -> None:
    rng = np.random.default_rng(2)
    a, b = unit(rng), unit(rng)
    gallery = Gallery()
    gallery.add("A", f32(a))
    gallery.saw_identity(1)
    gallery.add("B", f32(b))
    gallery.saw_identity(2)
    probe = f32(near(a, 0.9, rng))
    assert gallery.similarity_to("A", probe) == pytest.approx(0.9, abs=1e-5)
    # best_other for NIK A must ignore A's own row
    other = gallery.best_other("A", probe)
    assert other is not None and other < 0.5
    assert gallery.best_other("C", probe) == pytest.approx(0.9, abs=1e-5)


def test_only_own_identity_means_no_other() -> None:
    rng = np.random.default_rng(3)
    a = unit(rng)
    gallery = Gallery()
    gallery.add("A", f32(a))
    gallery.saw_identity(7)
    assert gallery.best_other("A", f32(a)) is None


def test_grows_past_capacity_and_keeps_every_row() -> None:
    rng = np.random.default_rng(4)
    vectors = [unit(rng) for _ in range(40)]
    gallery = Gallery(capacity=2)
    for i, v in enumerate(vectors):
        gallery.add(f"N{i}", f32(v))
        gallery.saw_identity(i + 1)
    assert len(gallery) == 40 and gallery.max_identity_id == 40
    for i, v in enumerate(vectors):
        assert gallery.similarity_to(f"N{i}", f32(v)) == pytest.approx(1.0, abs=1e-5)
        assert gallery.best_other("X", f32(v)) == pytest.approx(1.0, abs=1e-5)


def test_rollback_forgets_rows_added_after_checkpoint() -> None:
    rng = np.random.default_rng(5)
    a, b = unit(rng), unit(rng)
    gallery = Gallery()
    gallery.add("A", f32(a))
    gallery.saw_identity(1)
    mark = gallery.checkpoint()
    gallery.add("B", f32(b))
    gallery.saw_identity(9)
    gallery.rollback(mark)
    assert "B" not in gallery and len(gallery) == 1 and gallery.max_identity_id == 1
    gallery.add("B", f32(b))
    gallery.saw_identity(10)  # may be added again once really committed
    assert gallery.similarity_to("B", f32(b)) == pytest.approx(1.0, abs=1e-5)


def test_duplicate_nik_is_refused() -> None:
    gallery = Gallery()
    v = f32(unit(np.random.default_rng(6)))
    gallery.add("A", v)
    gallery.saw_identity(1)
    with pytest.raises(ValueError, match="already"):
        gallery.add("A", v)


@pytest.mark.parametrize("probes", [1, 3, 200])
# one thread below matching.PARALLEL_ROWS, every core above it
@pytest.mark.parametrize("size", [5, 40_000])
def test_block_matching_equals_exact_float32_scores(probes: int, size: int) -> None:
    """The kernel's best score per probe is the maximum of the exact float32 products, with the
    probe's own row left out, whatever the blocks and threads."""
    rng = np.random.default_rng(size + probes)
    rows = rng.standard_normal((size, 128), dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)  # templates are unit vectors
    # probes near enrolled people, so that the best score is a real match
    queries = rows[rng.integers(0, size, probes)] + 0.3 * rows[rng.integers(0, size, probes)]
    own = rng.integers(-1, size, probes)
    own[0] = size - 1  # the last row of the last block
    got = best_scores(rows, queries, own)
    for i in range(probes):
        scores = (rows @ queries[i]).astype(np.float32)
        if own[i] >= 0:
            scores[own[i]] = -np.inf
        assert got[i] == pytest.approx(float(scores.max()), abs=1e-5)


def test_niks_are_exact_keys_and_other_text_is_kept_apart() -> None:
    assert nik_key("0000000000000001") == 1 != nik_key("1")
    assert nik_key("6172010506900001") == 6172010506900001
    assert nik_key("A") != nik_key("B") and nik_key("A") >= 1 << 62


def test_index_survives_merges_and_truncation() -> None:
    """Past the merge size the tail moves into the sorted part; truncation still cuts it."""
    rng = np.random.default_rng(8)
    gallery = Gallery(capacity=4)
    vectors = rng.standard_normal((10_000, 128), dtype=np.float32)
    niks = [f"{i * 7919 % 10_000:016d}" for i in range(10_000)]
    for nik, v in zip(niks[:5000], vectors[:5000], strict=True):
        gallery.add(nik, v)  # one by one: tail, merged every few thousand
    gallery.add_many(niks[5000:], vectors[5000:])  # in bulk: straight into the sorted part
    assert list(gallery.rows_of([niks[0], niks[4999], niks[9999], "X"])) == [0, 4999, 9999, -1]
    gallery.rollback(Checkpoint(4000, 0))
    assert list(gallery.rows_of([niks[3999], niks[4000], niks[9999]])) == [3999, -1, -1]
    gallery.add(niks[9999], vectors[9999])
    assert gallery.rows_of([niks[9999]])[0] == 4000


@pytest.fixture
def shared_name() -> Iterator[str]:
    name = f"ektp-gallery-{os.getpid()}-test{np.random.default_rng().integers(1 << 30)}"
    yield name
    remove_shared(name)


async def test_shared_rows_show_one_workers_commits_to_another(shared_name: str) -> None:
    """Two galleries on the same shared rows (two workers): what one publishes, the other
    matches against after taking the lock, through growth into a new, bigger file; what one
    added but never published is dropped at its next lock."""
    rng = np.random.default_rng(9)
    first = Gallery(rows=SharedRows(shared_name, capacity=2))
    second = Gallery(rows=SharedRows(shared_name, capacity=2))
    people = [f32(unit(rng)) for _ in range(5)]
    async with first.locked():
        for i, v in enumerate(people):
            first.add(f"{i:016d}", v)  # 5 rows: the files grow from 2 to 8 rows
        first.saw_identity(5)
        first.publish()
    ctl = Path("/dev/shm") / f"{shared_name}.ctl"
    assert ctl.stat().st_mode & 0o777 == 0o600
    assert not (Path("/dev/shm") / f"{shared_name}.1").exists()  # the outgrown file is gone
    async with second.locked():
        assert len(second) == 5 and second.max_identity_id == 5
        assert second.similarity_to("0000000000000003", people[3]) == pytest.approx(1.0, abs=1e-5)
        assert second.best_other("X", people[4]) == pytest.approx(1.0, abs=1e-5)
        second.add("0000000000000099", people[0])  # tentative: its transaction fails
    async with first.locked():
        assert len(first) == 5 and "0000000000000099" not in first
        first.add("0000000000000007", f32(unit(rng)))
        first.saw_identity(7)
        first.publish()
    async with second.locked():
        assert len(second) == 6 and "0000000000000099" not in second
        assert second.rows_of(["0000000000000007"])[0] == 5


async def test_shared_rows_lock_excludes_the_other_process_view(shared_name: str) -> None:
    """The rows' lock is exclusive: a second holder waits until the first lets go."""
    first = Gallery(rows=SharedRows(shared_name, capacity=2))
    second = Gallery(rows=SharedRows(shared_name, capacity=2))
    order: list[str] = []

    async def hold() -> None:
        async with first.locked():
            order.append("first in")
            await asyncio.sleep(0)  # let the second try while the lock is held
            await asyncio.sleep(0)
            order.append("first out")

    async def wait() -> None:
        await asyncio.sleep(0)
        async with second.locked():
            order.append("second in")

    await asyncio.gather(hold(), wait())
    assert order == ["first in", "first out", "second in"]
