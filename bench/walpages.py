"""Pages each write puts into SQLite's WAL: a recording (ours and persist-queue's put) and a
claim of the node's default batch at two queue sizes. With `synchronous=FULL` every one of
them is written and flushed at commit, so on a disk that flushes by the byte they are the
commit's cost; unlike a rate, the count does not move with the machine's load.

`python -m bench.walpages [--records N] [--backlogs 1000,20000]`. Counted from the WAL's
growth, the database open (closing the last connection would checkpoint and remove the WAL),
with no checkpoint in between (the node's come every 10,000 pages; persist-queue's every
1,000: N stays under both).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
from pathlib import Path

import persistqueue

from bench.backlog import BATCH, LEASE, MAX_BYTES
from bench.nodedb import (
    create_node_db,
    distinct_residents,
    fill_backlog,
    node_sealer,
    recording_service,
)
from ektp_sync.storage import create_engine
from ektp_sync.wire import ResidentRecord
from local_server.store.queue import Outbox

PAGE = 4096
FRAME = PAGE + 24  # a WAL frame: its header and the page


def wal_frames(db: Path) -> float:
    wal = Path(f"{db}-wal")
    return wal.stat().st_size / FRAME if wal.exists() else 0.0


async def ours(workdir: Path, people: list[ResidentRecord], callers: int) -> float:
    """WAL pages per recording through `RecordService.record`, from `callers` at once."""
    path = workdir / f"ours-{callers}" / "local.db"
    path.parent.mkdir(parents=True)
    async with recording_service(path) as service:
        await service.record(people[0])  # the WAL's header and the first pages
        before = wal_frames(path)

        async def caller(mine: list[ResidentRecord]) -> None:
            for person in mine:
                await service.record(person)

        rest = people[1:]
        await asyncio.gather(*(caller(rest[i::callers]) for i in range(callers)))
        return round((wal_frames(path) - before) / len(rest), 2)


def persist_queue(workdir: Path, people: list[dict[str, object]]) -> float:
    """WAL pages per `put` of persist-queue (`SQLiteAckQueue`, one transaction each)."""
    queue = persistqueue.SQLiteAckQueue(str(workdir / "pq"), auto_commit=True)
    try:
        queue.put(people[0])
        db = workdir / "pq" / "data.db"
        before = wal_frames(db)
        for person in people[1:]:
            queue.put(person)
        return round((wal_frames(db) - before) / (len(people) - 1), 2)
    finally:
        queue.close()


async def claims(workdir: Path, backlog: int, rounds: int = 3) -> list[float]:
    """WAL pages of each claim of the node's default batch (given back after each) with
    `backlog` records queued."""
    path = workdir / f"claim-{backlog}" / "local.db"
    path.parent.mkdir(parents=True)
    url = await create_node_db(path)
    sealer = node_sealer(path.with_suffix(".key"))
    fill_backlog(path, distinct_residents(backlog, seed=1), sealer)
    with sqlite3.connect(path) as db:  # an empty WAL to count from
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    engine = create_engine(url)
    box = Outbox(engine, owner="bench", sealer=sealer)
    pages = []
    try:
        for _ in range(rounds):
            before = wal_frames(path)
            batch = await box.claim(BATCH, MAX_BYTES, LEASE)
            pages.append(round(wal_frames(path) - before, 1))
            await box.release([e.record_id for e in batch])
    finally:
        await engine.dispose()
    return pages


async def measure(records: int, backlogs: list[int]) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="walpages-"))
    people = distinct_residents(records + 1, seed=3)
    validated = [ResidentRecord.model_validate(p) for p in people]
    return {
        "ours, 1 caller": await ours(workdir, validated, 1),
        "ours, 8 callers": await ours(workdir, validated, 8),
        "persist-queue put": persist_queue(workdir, people),
        **{f"claim of {BATCH} at {n:,}": await claims(workdir, n) for n in backlogs},
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.walpages", description=__doc__)
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--backlogs", default="1000,20000")
    args = parser.parse_args()
    backlogs = [int(n) for n in args.backlogs.split(",") if n]
    print(json.dumps(asyncio.run(measure(args.records, backlogs)), indent=1))


if __name__ == "__main__":
    main()
