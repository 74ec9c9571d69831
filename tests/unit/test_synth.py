"""Synthetic residents: valid, reproducible, with every planted kind."""

from __future__ import annotations

from collections import Counter

import numpy as np

from ektp_sync.domain.biometrics import decode_template
from ektp_sync.synth import PLANTED_KINDS, SIMILARITY, generate
from ektp_sync.wire import ResidentRecord


def test_reproducible_valid_and_complete() -> None:
    a, b = generate(60, seed=4), generate(60, seed=4)
    assert [r.record for r in a] == [r.record for r in b]
    assert [r.record for r in a] != [r.record for r in generate(60, seed=5)]
    kinds = Counter(r.kind for r in a)
    assert set(kinds) == {"new_identity", *PLANTED_KINDS}
    for r in a:
        ResidentRecord.model_validate(r.record)
    base_niks = [r.record["nik"] for r in a if r.phase == 1]
    assert len(set(base_niks)) == len(base_niks)


def test_planted_similarities() -> None:
    residents = generate(40, seed=2)
    for r in residents:
        if r.duplicate_of is None:
            continue
        original = residents[r.duplicate_of]
        cos = float(
            decode_template(r.record["biometrics"]["template"])
            @ decode_template(original.record["biometrics"]["template"])
        )
        if r.kind in SIMILARITY:
            assert abs(cos - SIMILARITY[r.kind]) < 1e-3
        else:  # nik_conflict: a stranger under the same NIK
            assert r.record["nik"] == original.record["nik"] and cos < 0.5
    templates = np.stack(
        [decode_template(r.record["biometrics"]["template"]) for r in residents if r.phase == 1]
    )
    sims = templates @ templates.T
    np.fill_diagonal(sims, 0)
    assert sims.max() < 0.6  # distinct people never fall in the review band
