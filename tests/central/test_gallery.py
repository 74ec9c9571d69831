"""The in-memory gallery: exact 1:N matching, growth, same-NIK exclusion, rollback."""

from __future__ import annotations

import numpy as np
import pytest

from central_server.dedup.gallery import Gallery

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
