"""Load shedding end to end: the centre's backlog passes its bound, it answers 503 with
Retry-After, and the office waits at least that long before it tries again, then delivers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from central_server.intake import SHED_RETRY_AFTER_SECONDS
from ektp_sync.synth import generate
from ektp_sync.testing import FAST_RETRY, eventually

pytestmark = pytest.mark.integration


async def test_office_honours_retry_after_while_the_centre_sheds_load(started) -> None:
    # any undecided submission is over the bound; the office's own backoff is capped at 1 s,
    # far below the centre's Retry-After, so a longer wait can only be the centre's request
    d, offices, admin = await started(central_extra=["--max-backlog", "0"])
    assert float(FAST_RETRY["EKTP_BACKOFF_CAP"]) < SHED_RETRY_AFTER_SECONDS
    office = offices["6172"]
    first, second = [r.record for r in generate(6, seed=31) if r.phase == 1][:2]
    # the de-duplication worker holds what it takes in: the backlog stays at one
    await admin.faults(processing_delay_ms=600_000)
    held = await office.record(first)
    await eventually(lambda: office.all_in([held], {"awaiting_decision"}), timeout=60)

    shed_id = await office.record(second)

    async def shed() -> dict[str, Any] | None:
        view = await office.get(shed_id)
        refused = "503" in (view["last_error"] or "") and view["state"] == "queued"
        return view if refused and view["next_attempt_at"] else None

    view = await eventually(shed, timeout=60, message="the office sees the centre shed load")
    wait = dt.datetime.fromisoformat(view["next_attempt_at"]) - dt.datetime.fromisoformat(
        view["updated_at"]
    )
    assert wait >= dt.timedelta(seconds=SHED_RETRY_AFTER_SECONDS), view
    stats = await admin.stats()
    assert (stats["enrollments"], stats["by_status"]) == (1, {"pending": 1})

    # a restart clears the injected delay (faults live in memory); the backlog drains
    await d.central.restart(hard=False)
    both = [held, shed_id]
    await eventually(lambda: office.all_in(both, {"approved"}), timeout=120, message="drained")
    stats = await admin.stats()
    assert (stats["enrollments"], stats["identities"]) == (2, 2)
