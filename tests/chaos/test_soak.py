"""The chaos soak in CI: every guarantee of docs/guarantees.md, on SQLite and on PostgreSQL.

Size: EKTP_CHAOS_RECORDS records (default below) with seed EKTP_CHAOS_SEED; `python -m
tests.chaos` runs the same soak alone with any seed and size.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from .soak import PACKET_GUARANTEE, SoakConfig, run_soak

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

#: 2,000 records as the issue asks; see docs/guarantees.md for how long a run takes here
RECORDS = int(os.environ.get("EKTP_CHAOS_RECORDS", "2000"))
SEED = int(os.environ.get("EKTP_CHAOS_SEED", "20261129"))


async def test_chaos_soak_loses_nothing_doubles_nothing_and_decides_by_the_truth(
    db_factory: Callable[[], Awaitable[str]], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    backend = str(request.node.callspec.params["db_factory"])
    config = SoakConfig(seed=SEED, records=RECORDS, office_kills=3, centre_restarts=1)
    report = await run_soak(config, tmp_path, await db_factory(), await db_factory(), backend)
    print(report.summary())  # the numbers belong in the log of every CI run
    assert report.office_kills >= 3 and report.centre_restarts >= 1, report.summary()
    assert sum(report.faults.values()) > 0, report.summary()
    assert report.recorded == RECORDS, report.summary()
    for guarantee, problems in report.violations.items():
        assert not problems, f"guarantee {guarantee} violated:\n{report.summary()}"
    assert report.violations, "the guarantees were never checked"


#: heavy soak: a ~300 KB photo (over the node's 64 KiB --packet-min-bytes, so a tus upload
#: after the core) for every other resident; small, so it runs in a minute or two per backend
HEAVY_RECORDS = int(os.environ.get("EKTP_CHAOS_HEAVY_RECORDS", "24"))
PHOTO_BYTES = 300_000
#: its crash schedule (progress = records posted + decided, 48 in all) puts one office SIGKILL
#: in the posting and two office SIGKILLs and the centre's in phase 1's drain (progress 22, 26,
#: 33 of about 40), while the photos are being uploaded
HEAVY_SEED = int(os.environ.get("EKTP_CHAOS_HEAVY_SEED", "1"))


async def test_chaos_soak_with_heavy_records_authorises_only_whole_verified_packets(
    db_factory: Callable[[], Awaitable[str]], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    backend = str(request.node.callspec.params["db_factory"])
    config = SoakConfig(
        seed=HEAVY_SEED,
        records=HEAVY_RECORDS,
        office_kills=3,
        centre_restarts=1,
        attachment_bytes=PHOTO_BYTES,
        batch_size=10,
        timeout=300.0,
    )
    report = await run_soak(config, tmp_path, await db_factory(), await db_factory(), backend)
    print(report.summary())
    assert report.office_kills >= 3 and report.centre_restarts >= 1, report.summary()
    assert report.recorded == HEAVY_RECORDS, report.summary()
    assert 0 < report.heavy < HEAVY_RECORDS, report.summary()  # a mix, heavy and light
    # the live check saw approvals of heavy records (it is not vacuous)
    assert report.approvals_watched > 0, report.summary()
    assert PACKET_GUARANTEE in report.violations, report.summary()
    for guarantee, problems in report.violations.items():
        assert not problems, f"guarantee {guarantee} violated:\n{report.summary()}"
