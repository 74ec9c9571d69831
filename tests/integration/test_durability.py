"""A 201 is on disk: what the office node acknowledged survives a SIGKILL that lands mid-write.

The crash is a process crash, not a power loss: the operating system still writes what the
process handed it. See docs/guarantees.md, "Durability", for what survives which failure.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from ektp_sync.storage import create_engine, sqlite_writer_engine
from ektp_sync.synth import generate
from ektp_sync.testing import eventually

pytestmark = pytest.mark.integration

POSTERS = 6  # concurrent operators, so the kill lands among commits in progress
KILL_AFTER = 40  # acknowledged records before the kill


async def test_every_201_before_a_sigkill_survives_with_its_queue_entry(started) -> None:
    d, offices, admin = await started(start=False)  # centre down: everything stays queued
    office, local = offices["6172"], d.locals["6172"]
    local.start()
    await local.wait_ready()
    bodies = [r.record for r in generate(400, seed=23) if r.phase == 1]
    acknowledged: list[str] = []
    enough = asyncio.Event()

    async def operator(mine: list[dict]) -> None:
        for body in mine:
            try:
                response = await office.http.post("/records", json=body)
            except httpx.HTTPError:
                return  # the node died under this request: no answer, no promise
            if response.status_code != 201:
                return
            acknowledged.append(response.json()["id"])
            if len(acknowledged) >= KILL_AFTER:
                enough.set()

    posters = [asyncio.create_task(operator(bodies[i::POSTERS])) for i in range(POSTERS)]
    await asyncio.wait_for(enough.wait(), timeout=120)
    local.kill()  # SIGKILL while the other operators' requests are still being written
    await asyncio.gather(*posters)
    promised = list(acknowledged)
    assert len(promised) < len(bodies), "the kill came after every request had finished"

    local.start()
    await local.wait_ready()
    records = await office.all_records()
    assert set(promised) <= set(records)
    # queued, or uploading if the kill caught a (refused) upload attempt: its lease runs out
    assert {records[i]["state"] for i in promised} <= {"queued", "uploading"}
    # every stored record, promised or not yet answered, has its queue entry: one transaction
    assert (await office.status())["pending"] == len(records)

    d.central.start()
    await d.central.wait_ready()
    await eventually(lambda: office.all_in(records, {"approved"}), timeout=180, message="drained")
    assert (await admin.stats())["enrollments"] == len(records)


async def test_sqlite_commits_are_fsynced_write_ahead_logged(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'node.db'}")
    try:
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one() == "wal"
            # 2 is FULL: the WAL is fsynced at every commit, before the commit returns
            assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar_one() == 2
    finally:
        await engine.dispose()


def test_the_group_commit_writer_is_as_durable(tmp_path: Path) -> None:
    """The blocking connection that writes the node's recordings runs at the same settings."""
    writer = sqlite_writer_engine(create_engine(f"sqlite:///{tmp_path / 'node.db'}"))
    try:
        with writer.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    finally:
        writer.dispose()
