"""Regressions found by the outside acceptance check of the centre's intake."""

from __future__ import annotations

import numpy as np

from . import factories as f
from .conftest import Centre


async def test_an_item_that_is_not_an_object_does_not_fail_the_batch(centre: Centre) -> None:
    rng = np.random.default_rng(11)
    good = f.item(f.record(f.unit(rng)))
    async with centre.office() as office:
        response = await office.post(
            "/enrollments", json={"items": ["not an object", 42, None, [1], good]}
        )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["invalid"] * 4 + ["accepted"]
    assert all("object" in r["errors"][0] for r in results[:4])
    assert results[4]["submission_id"] == good["submission_id"]
