"""SIGTERM of the office node: uploads still travelling are given back, nothing dangles."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ektp_sync.storage import create_engine
from ektp_sync.synth import generate
from ektp_sync.testing import eventually
from local_server.store.tables import outbox, records

pytestmark = pytest.mark.integration


async def test_sigterm_mid_upload_releases_every_lease_and_the_restart_delivers_once(
    started,
) -> None:
    d, offices, admin = await started(
        local_extra=["--batch-size", "5", "--max-in-flight", "2"],
    )
    office = offices["6172"]
    local_db = d.local_dbs["6172"]
    # every upload hangs at the centre far longer than the node's grace period (5 s)
    await admin.faults(latency_ms=20_000)
    residents = [r for r in generate(20, seed=23) if r.phase == 1]
    ids = [await office.record(r.record) for r in residents]

    async def in_flight() -> bool:
        status = await office.status()
        return status["central"]["in_flight_batches"] == 2

    await eventually(in_flight, timeout=60, message="two batches in flight")
    local = d.locals["6172"]
    local.stop(timeout=30)  # SIGTERM; it would be SIGKILLed only after 30 s
    assert "cancelling it" not in local.log_tail(200)

    engine = create_engine(local_db)
    try:
        async with engine.connect() as conn:
            leased = (
                await conn.execute(
                    select(func.count())
                    .select_from(outbox)
                    .where(outbox.c.lease_owner.is_not(None))
                )
            ).scalar_one()
            uploading = (
                await conn.execute(
                    select(func.count()).select_from(records).where(records.c.state == "uploading")
                )
            ).scalar_one()
            queued = (await conn.execute(select(func.count()).select_from(outbox))).scalar_one()
    finally:
        await engine.dispose()
    assert (leased, uploading, queued) == (0, 0, len(ids))

    await admin.faults(latency_ms=0)
    local.start()
    await local.wait_ready()
    await eventually(lambda: office.all_in(ids, {"approved"}), timeout=120, message="delivered")
    stats = await admin.stats()
    assert stats["enrollments"] == len(ids)
