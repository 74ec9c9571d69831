"""One gallery for all workers: a real `central serve --workers 2` on PostgreSQL maps one copy of
the gallery in shared memory (/dev/shm, 0600), every process decides against what the others
enrolled, and the copy is gone when the centre stops."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import psutil
import pytest

from ektp_sync.launch import Deployment
from ektp_sync.testing import FAST_RETRY, CentreAdmin, DeploymentFactory, OfficeClient, eventually

from .test_scale_pg import _twins, _workers

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.parametrize("db_factory", ["postgresql"], indirect=True),
]

PERSONS = 12


def shared_files(d: Deployment) -> list[Path]:
    """The shared gallery's files of this centre (named after its serve process)."""
    return sorted(Path("/dev/shm").glob(f"ektp-gallery-{d.central.pid}-*"))


def mapped_by(worker: psutil.Process) -> set[str]:
    """The shared gallery's rows files `worker` maps (besides the header, .ctl)."""
    paths = {m.path for m in worker.memory_maps(grouped=True)}
    return {p for p in paths if "ektp-gallery-" in p and not p.endswith(".ctl")}


async def test_two_workers_share_one_gallery_and_see_each_others_identities(
    ektp_deployment: DeploymentFactory, db_factory: Callable[[], Awaitable[str]]
) -> None:
    d = await ektp_deployment(
        central_db=await db_factory(),
        central_workers=2,
        # one record per upload, two at once: decisions fall to both processes' workers
        local_extra=["--batch-size", "1", "--max-in-flight", "2"],
        local_env=FAST_RETRY,
    )
    workers = _workers(d)
    assert len(workers) == 2
    # both processes loaded their gallery from the same rows file at start
    await eventually(lambda: all(mapped_by(w) for w in workers), timeout=30)
    maps = [mapped_by(w) for w in workers]
    assert maps[0] == maps[1] and len(maps[0]) == 1, maps
    rows_file = Path(next(iter(maps[0])))
    assert rows_file in shared_files(d)
    for path in shared_files(d):
        assert path.stat().st_mode & 0o777 == 0o600, path

    pairs = _twins(PERSONS, seed=31)
    async with OfficeClient.of(d) as office, CentreAdmin.of(d) as admin:
        # everyone once, one by one: enrolled by whichever process decided
        first = [await office.record(person) for person, _ in pairs]
        await eventually(lambda: office.all_in(first, {"approved"}), timeout=120)
        # then their twins under NIKs of their own: each is a duplicate of someone some
        # process enrolled, whichever process decides it
        second = [await office.record(twin) for _, twin in pairs]
        await eventually(lambda: office.all_in(second, {"rejected"}), timeout=120)
        for record in await office.records(second):
            assert record["decision"]["reason"] == "duplicate_identity", record
        assert (await admin.stats())["identities"] == PERSONS

    # the published header says what the database says: PERSONS rows
    ctl = next(p for p in shared_files(d) if p.suffix == ".ctl")
    header = np.fromfile(ctl, dtype=np.int64)
    assert int(header[1]) == PERSONS
    assert len(_workers(d)) == 2  # no process died on the way

    d.central.stop()
    assert shared_files(d) == []  # the memory is given back with the centre
