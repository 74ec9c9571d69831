"""Benchmark 3: what `POST /records` costs to store, against the disk and two real alternatives.

Every side stores each record durably before it answers (SQLite in WAL, `synchronous=FULL`:
the commit returns once the WAL is fsynced), in the same process, on the same disk, taking
turns round after round (a neighbour's disk traffic then slows every side alike):

- the disk's limit: 4 KiB written and `fdatasync`ed, again and again (a durable commit is at
  least one such flush; a one-record-per-commit path cannot beat this rate); and the same with
  the file growing at each flush, as a WAL grows until its first checkpoint lets SQLite write
  over it from the start (the file's new size is flushed too);
- persist-queue's `put` (`SQLiteAckQueue`, one transaction per item, SQLite's default
  `synchronous=FULL` in WAL), from one caller and from 8 threads;
- a plain `sqlite3` outbox running our statements (the node's two INSERTs as SQLAlchemy
  compiles them, on a database made by the node's migrations, one transaction per record): the
  cost of our schema with no stack on top;
- the floor of any design that keeps the NIK check exact: plain `sqlite3` writing each sealed
  record once, into a one-table intake (its rows, a unique index on the NIK's lookup, a trigger
  refusing a NIK in flight in `records`), no stack at all; at the node's checkpoint interval
  and at SQLite's default (persist-queue's). Whatever a node adds on top of it (sealing, the
  event loop, the writer thread, SQLAlchemy, folding the intake into `records` later) can only
  be slower: where this floor is about persist-queue's rate, 1× from one caller is out of reach;
- ours: `RecordService.record`, the call `POST /records` makes after validating the body, from
  one caller and from 8 concurrent callers (group commit shares their commits);
- a real node (`ektp-sync local serve`, TLS, centre down) taking `POST /records` from 8
  concurrent HTTP clients.

Each figure is the best round of its side (the one least disturbed by other processes).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import persistqueue

from bench.nodedb import distinct_residents, recording_service
from bench.plainsqlite import (
    SQLITE_DEFAULT_CHECKPOINT,
    Timed,
    intake_floor,
    plain_outbox,
    start_clock,
)
from bench.report import Result
from ektp_sync.launch import Deployment
from ektp_sync.storage import SQLITE_WAL_CHECKPOINT_PAGES
from ektp_sync.testing import OfficeClient
from ektp_sync.wire import ResidentRecord

CALLERS = 8  # operators recording at once (and HTTP clients)
FSYNCS = 500

Payloads = Sequence[tuple[str, str]]  # (nik, the record's JSON)


def fsync_rate(path: Path, count: int = FSYNCS) -> Timed:
    """Flushes per second of 4 KiB rewritten in place, as a WAL commit writes and flushes."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        block = b"\0" * 4096
        start = start_clock()
        for n in range(count):
            os.pwrite(fd, block, (n % 16) * 4096)
            os.fdatasync(fd)
        return Timed.since(count, start)
    finally:
        os.close(fd)


def fsync_append_rate(path: Path, count: int = FSYNCS) -> Timed:
    """Flushes per second of 4 KiB appended (the file grows): a WAL in its growth phase, before
    its first checkpoint lets SQLite write over it from the start."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        block = b"\0" * 4096
        start = start_clock()
        for n in range(count):
            os.pwrite(fd, block, n * 4096)
            os.fdatasync(fd)
        return Timed.since(count, start)
    finally:
        os.close(fd)


def persist_queue_put(path: Path, payloads: Payloads, threads: int = 1) -> Timed:
    """Items put per second, one transaction each, from `threads` callers at once."""
    queue = persistqueue.SQLiteAckQueue(str(path), auto_commit=True, multithreading=threads > 1)
    try:
        getter = queue._getter
        assert getter is not None  # opened by the constructor
        if getter.execute("PRAGMA synchronous").fetchone()[0] != 2:
            raise RuntimeError("persist-queue does not run at synchronous=FULL here")
        items = [{"nik": nik, "payload": payload} for nik, payload in payloads]
        with ThreadPoolExecutor(threads) as pool:
            start = start_clock()
            if threads == 1:
                for item in items:
                    queue.put(item)
            else:
                list(pool.map(queue.put, items))
            return Timed.since(len(items), start)
    finally:
        queue.close()


async def service_path(path: Path, people: Sequence[ResidentRecord], callers: int) -> Timed:
    """Records per second through `RecordService.record` from `callers` concurrent callers."""
    async with recording_service(path) as service:

        async def caller(mine: Sequence[ResidentRecord]) -> None:
            for person in mine:
                await service.record(person)

        start = start_clock()
        await asyncio.gather(*(caller(people[i::callers]) for i in range(callers)))
        return Timed.since(len(people), start)


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def http_path(
    workdir: Path, bodies: Sequence[dict[str, Any]], clients: int
) -> dict[str, float]:
    """Records per second answered 201 by a real node, `clients` HTTP clients at once; and the
    CPU milliseconds per record of the node and of the clients (this process)."""
    deployment = Deployment(base_dir=workdir, seed=5)
    node = deployment.locals[deployment.offices[0]]
    node.start()  # the centre stays down: every record waits in the queue
    try:
        await node.wait_ready(120)
        assert node.pid is not None
        async with OfficeClient.of(deployment) as office:
            await office.record(dict(bodies[0]))  # warm: connections, first statements

            async def client(mine: Sequence[dict[str, Any]]) -> None:
                for body in mine:
                    await office.record(dict(body))

            rest = bodies[1:]
            cpu_node, cpu_us = cpu_seconds(node.pid), cpu_seconds()
            started = time.perf_counter()
            await asyncio.gather(*(client(rest[i::clients]) for i in range(clients)))
            seconds = time.perf_counter() - started
            return {
                "http": len(rest) / seconds,
                "http_node_cpu_ms": (cpu_seconds(node.pid) - cpu_node) / len(rest) * 1000,
                "http_client_cpu_ms": (cpu_seconds() - cpu_us) / len(rest) * 1000,
            }
    finally:
        deployment.stop()


def _round(workdir: Path, n: int, people: list[dict[str, Any]]) -> dict[str, float]:
    """One turn of every side, each on fresh files; records per second (fsyncs for the disk)."""
    size = len(people) // 2
    first, second = people[:size], people[size:]
    validated = [ResidentRecord.model_validate(p) for p in people]
    payloads = [(str(p["nik"]), json.dumps(p, separators=(",", ":"))) for p in first]
    here = workdir / f"round-{n}"
    here.mkdir(parents=True)
    sides = {
        "fsync": fsync_rate(here / "fsync"),
        "fsync_append": fsync_append_rate(here / "fsync-append"),
        "pq_put": persist_queue_put(here / "pq-1", payloads),
        "pq_put_threads": persist_queue_put(here / "pq-8", payloads, CALLERS),
        "plain_sqlite3": plain_outbox(
            here / "plain" / "local.db", validated[:size], SQLITE_WAL_CHECKPOINT_PAGES
        ),
        "intake_floor": intake_floor(
            here / "intake" / "local.db", validated[:size], SQLITE_WAL_CHECKPOINT_PAGES
        ),
        "intake_floor_default": intake_floor(
            here / "intake-default" / "local.db", validated[:size], SQLITE_DEFAULT_CHECKPOINT
        ),
        "ours": asyncio.run(service_path(here / "ours-1" / "local.db", validated[:size], 1)),
        "ours_callers": asyncio.run(
            service_path(here / "ours-8" / "local.db", validated[:size], CALLERS)
        ),
    }
    figures = {name: timed.rate for name, timed in sides.items()}
    figures |= {f"{name}_cpu_ms": timed.cpu_ms for name, timed in sides.items()}
    return figures | asyncio.run(http_path(here / "http", second, CALLERS))


def run(workdir: Path, quick: bool) -> Result:
    count = 400 if quick else 3_000
    rounds = 2 if quick else 3
    people = distinct_residents(2 * count + 1, seed=3)
    measured = [_round(workdir, n, people) for n in range(rounds)]
    rates = [side for side in measured[0] if not side.endswith("_cpu_ms")]
    best = {side: max(r[side] for r in measured) for side in rates}
    # CPU per record: the least of the rounds (a busy machine only adds to it)
    cpu = {side: min(r[side] for r in measured) for side in measured[0] if side not in rates}
    result = Result(
        "queue",
        f"storing a new record durably, {count:,} per side, one transaction each (ours: "
        "RecordService.record, as POST /records; refs: persist-queue put, plain sqlite3, disk)",
        target="ours ≥ 1× persist-queue put, one caller and 8 callers",
    )
    unit = "records/s"
    one = result.add("ours, 1 caller (ref: persist-queue put)", best["ours"], best["pq_put"], unit)
    many = result.add(
        f"ours, {CALLERS} callers (ref: persist-queue put, {CALLERS} threads)",
        best["ours_callers"],
        best["pq_put_threads"],
        unit,
    )
    result.add("ours, 1 caller (ref: plain sqlite3, our SQL)", best["ours"], best["plain_sqlite3"])
    result.add("plain sqlite3, our SQL (ref: disk fsyncs/s)", best["plain_sqlite3"], best["fsync"])
    result.add("persist-queue put (ref: disk fsyncs/s)", best["pq_put"], best["fsync"])
    result.add(
        "floor: one-table intake, no stack, node's checkpoint (ref: persist-queue put)",
        best["intake_floor"],
        best["pq_put"],
        unit,
    )
    result.add(
        "floor: one-table intake, no stack, SQLite's checkpoint (ref: persist-queue put)",
        best["intake_floor_default"],
        best["pq_put"],
        unit,
    )
    result.add(
        "disk fsyncs/s, file growing (ref: rewriting in place)",
        best["fsync_append"],
        best["fsync"],
    )
    result.add(
        f"HTTP POST /records, {CALLERS} clients, TLS (ref: ours, {CALLERS} callers)",
        best["http"],
        best["ours_callers"],
        unit,
    )
    ms = "ms CPU/record"
    result.add(
        "ours, 1 caller (ref: persist-queue put)", cpu["ours_cpu_ms"], cpu["pq_put_cpu_ms"], ms
    )
    result.add(
        f"ours, {CALLERS} callers (ref: persist-queue put, {CALLERS} threads)",
        cpu["ours_callers_cpu_ms"],
        cpu["pq_put_threads_cpu_ms"],
        ms,
    )
    result.add(
        "plain sqlite3, our SQL (ref: persist-queue put)",
        cpu["plain_sqlite3_cpu_ms"],
        cpu["pq_put_cpu_ms"],
        ms,
    )
    result.add(
        f"node over HTTP (ref: ours, {CALLERS} callers in process)",
        cpu["http_node_cpu_ms"],
        cpu["ours_callers_cpu_ms"],
        ms,
    )
    result.add(f"the {CALLERS} HTTP clients (httpx, TLS)", cpu["http_client_cpu_ms"], None, ms)
    result.met = all(f.ratio is not None and f.ratio >= 1 for f in (one, many))
    result.notes.append(
        f"best of {rounds} interleaved rounds per side; the disk did {best['fsync']:,.0f}"
        " fdatasync/s; every side at synchronous=FULL in WAL; CPU per record is this process's"
        " (all threads; the node's own for HTTP), least of the rounds: lower is better"
    )
    result.details = {
        "count": count,
        "rounds": measured,
        "best": best,
        "cpu_ms": cpu,
        "callers": CALLERS,
    }
    return result
