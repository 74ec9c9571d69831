"""Admin routes: statistics per contract and run-time fault injection."""

from __future__ import annotations

import numpy as np

from ektp_sync.testing import eventually

from . import factories as f
from .conftest import Centre


async def test_stats_per_status_reason_and_office(centre: Centre) -> None:
    rng = np.random.default_rng(21)
    t = f.unit(rng)
    async with centre.office("6172") as a, centre.office("6101") as b, centre.admin() as admin:
        await a.post("/enrollments", json=f.batch(f.item(f.record(t))))
        await a.post("/enrollments", json=f.batch(f.item(f.record(f.unit(rng), "0000"))))

        async def first_decided() -> bool:
            by_status: dict[str, int] = (await admin.get("/stats")).json()["by_status"]
            return by_status.get("approved") == 1

        await eventually(first_decided)
        dup = f.item(f.record(f.near(t, 0.97, rng), f.nik(region="6101")), "6101")
        await b.post("/enrollments", json=f.batch(dup))

        async def all_decided() -> dict[str, object] | None:
            body: dict[str, object] = (await admin.get("/stats")).json()
            return body if "pending" not in body["by_status"] else None  # type: ignore[operator]

        stats = await eventually(all_decided)
    assert stats == {
        "enrollments": 3,
        "identities": 1,
        "by_status": {"approved": 1, "invalid": 1, "rejected": 1},
        "by_reason": {"new_identity": 1, "duplicate_identity": 1},
        "offices": {
            "6172": {"enrollments": 2, "by_status": {"approved": 1, "invalid": 1}},
            "6101": {"enrollments": 1, "by_status": {"rejected": 1}},
        },
    }


async def test_fresh_stats_count_undecided_as_pending(centre: Centre) -> None:
    rng = np.random.default_rng(22)
    async with centre.office() as office, centre.admin() as admin:
        await admin.post("/admin/faults", json={"processing_delay_ms": 600_000})
        await office.post("/enrollments", json=f.batch(f.item(f.record(f.unit(rng)))))
        stats = (await admin.get("/stats")).json()
    assert stats["by_status"] == {"pending": 1}
    assert stats["offices"]["6101"] == {"enrollments": 0, "by_status": {}}


async def test_faults_error_rate_and_reset(centre: Centre) -> None:
    async with centre.office() as office, centre.admin() as admin:
        assert (await admin.get("/admin/faults")).json() == {
            "error_rate": 0.0,
            "latency_ms": 0,
            "processing_delay_ms": 0,
        }
        set_ = await admin.post("/admin/faults", json={"error_rate": 1.0, "latency_ms": 1})
        assert set_.json() == {"error_rate": 1.0, "latency_ms": 1, "processing_delay_ms": 0}
        failed = await office.get("/decisions")
        assert failed.status_code == 503 and failed.headers["retry-after"] == "1"
        assert failed.json()["rule"] == "fault_injected"
        # admin and public routes are not subject to injected faults
        assert (await admin.get("/stats")).status_code == 200
        # fields left out keep their value
        partial = await admin.post("/admin/faults", json={"error_rate": 0})
        assert partial.json()["latency_ms"] == 1
        assert (await office.get("/decisions")).status_code == 200
        bad = await admin.post("/admin/faults", json={"error_rate": 2})
        assert bad.status_code == 422
