"""A centre that already holds a big register, and what one gallery for all workers saves.

`populate` loads N identities in bulk into a centre database (the centre's own migrations and
store). `run` (bench `workers`) starts `central serve --workers 4` on such a PostgreSQL
database, waits until every worker has loaded its gallery, and reads each process's memory as
the kernel accounts it (/proc/PID/smaps_rollup through psutil): RSS (shared pages counted in
every process), PSS (each shared page split among the processes mapping it: the sum is the
memory really used) and USS (pages of that process alone). The workers are forked from a
supervisor that shares their interpreter's pages, so its PSS is part of the memory used: the
target is judged on the sum over every process. The reference is the same centre with one
worker, whose gallery is private: "one copy".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import psutil

from bench.dedup import unit_rows
from bench.report import Result
from central_server.store import CentreStore
from ektp_sync.launch import ServerProcess, central_process, free_port
from ektp_sync.sealing import DataKey

PG_ADMIN = os.environ.get("EKTP_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
BULK_CHUNK = 50_000
WORKERS = 4
OFFICES = {"6172": "bench-office-key-6172"}
LOADED = "gallery loaded with"


def bulk_nik(i: int) -> str:
    """NIKs of the bulk register: province 99, which no office of the benchmarks records."""
    return f"99{i:014d}"


async def populate(url: str, size: int, key_file: Path, seed: int = 7) -> None:
    """Schema (the centre's migrations) and `size` random identities, in bulk, sealed under the
    data key in `key_file` (made if missing; the centre is then started with it)."""
    store = CentreStore.open(url, DataKey.load_or_create(key_file))
    try:
        await store.migrate()
        rng = np.random.default_rng(seed)
        now = dt.datetime.now(dt.UTC)
        for first in range(0, size, BULK_CHUNK):
            count = min(BULK_CHUNK, size - first)
            templates = unit_rows(rng, count)
            people = [(bulk_nik(first + i), templates[i].tobytes()) for i in range(count)]
            await store.decisions.enrol_in_bulk(people, "9901", now)
    finally:
        await store.close()


async def new_pg_database(label: str) -> str:
    """A fresh, empty PostgreSQL database beside the tests' (same server and user)."""
    name = f"bench_{label}_{os.getpid()}_{int(time.time())}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


async def drop_pg_database(url: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await admin.close()


def _memory(pid: int) -> dict[str, float]:
    info = psutil.Process(pid).memory_full_info()
    return {k: getattr(info, k) / 2**20 for k in ("rss", "pss", "uss")}


async def _serve(
    workdir: Path, url: str, workers: int, timeout: float, key_file: Path
) -> dict[str, Any]:
    """Start a centre of `workers` processes, wait until each has loaded its gallery (its log
    line), measure every process, stop it."""
    centre: ServerProcess = central_process(
        workdir / f"w{workers}",
        free_port(),
        OFFICES,
        "bench-admin-key",
        url,
        workers,
        extra=["--data-key-file", str(key_file)],
    )
    started = time.perf_counter()
    centre.start()
    try:
        await centre.wait_ready(timeout)
        while centre.log_path.read_text(errors="replace").count(LOADED) < workers:
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"not every worker loaded its gallery:\n{centre.log_tail()}")
            await asyncio.sleep(0.5)
        loaded = time.perf_counter() - started
        assert centre.pid is not None
        master = psutil.Process(centre.pid)
        processes = master.children() if workers > 1 else [master]
        return {
            "workers": workers,
            "start_seconds": loaded,
            "processes": [_memory(p.pid) for p in processes],
            "master": _memory(master.pid) if workers > 1 else None,
        }
    finally:
        centre.stop()


async def _measure(workdir: Path, size: int, timeout: float) -> dict[str, Any]:
    found: dict[str, Any] = {"size": size}
    for label, people in (("empty", 0), ("full", size)):
        url = await new_pg_database("workers")
        try:
            started = time.perf_counter()
            key_file = workdir / label / "data.key"
            await populate(url, people, key_file)
            found[f"populate_seconds_{label}"] = time.perf_counter() - started
            for workers in (1, WORKERS):
                found[f"{label}_{workers}"] = await _serve(
                    workdir / label, url, workers, timeout, key_file
                )
        finally:
            await drop_pg_database(url)
    return found


def _sum(serve: dict[str, Any], key: str, supervisor: bool = False) -> float:
    """Summed over the workers, and over the supervisor too if `supervisor` (with one worker
    there is no supervisor: the process serves itself)."""
    total = float(sum(p[key] for p in serve["processes"]))
    if supervisor and serve["master"]:
        total += serve["master"][key]
    return total


def run(workdir: Path, quick: bool) -> Result:
    size = 100_000 if quick else 1_000_000
    found = asyncio.run(_measure(workdir, size, 300.0 if quick else 900.0))
    one, many = found["full_1"], found[f"full_{WORKERS}"]
    empty_one, empty_many = found["empty_1"], found[f"empty_{WORKERS}"]
    label = f"{size // 1000:,}k"
    result = Result(
        "workers",
        f"memory of `central serve --workers {WORKERS}` on PostgreSQL holding {label} identities"
        " (one gallery in shared memory, workers forked from one supervisor), against the same"
        " centre with one worker",
        target=f"PSS of every process ({WORKERS} workers + supervisor) ≤ 1.3× one worker's (at 1M)",
    )
    # the supervisor counts: it holds the interpreter and the app the workers share (its PSS
    # is its share of those pages), and it is memory the deployment uses
    everything = result.add(
        f"PSS, {WORKERS} workers + supervisor (ref: 1 worker)",
        _sum(many, "pss", supervisor=True),
        _sum(one, "pss"),
        "MiB",
    )
    result.add(
        f"PSS, sum of {WORKERS} workers (ref: 1 worker)", _sum(many, "pss"), _sum(one, "pss"), "MiB"
    )
    result.add(f"USS, sum of {WORKERS} workers", _sum(many, "uss"), _sum(one, "uss"), "MiB")
    result.add(
        f"RSS, sum of {WORKERS} (shared counted 4×)", _sum(many, "rss"), _sum(one, "rss"), "MiB"
    )
    # the gallery's part: the same centres on an empty register, subtracted
    result.add(
        f"PSS of the gallery, {WORKERS} workers + supervisor (ref: 1 worker)",
        _sum(many, "pss", supervisor=True) - _sum(empty_many, "pss", supervisor=True),
        _sum(one, "pss") - _sum(empty_one, "pss"),
        "MiB",
    )
    result.add(
        f"PSS of an empty centre, {WORKERS} workers + supervisor",
        _sum(empty_many, "pss", supervisor=True),
        _sum(empty_one, "pss"),
        "MiB",
    )
    if many["master"]:
        result.add("PSS of the supervisor", many["master"]["pss"], unit="MiB")
    result.add(
        "start until every worker loaded (ref: 1 worker)",
        many["start_seconds"],
        one["start_seconds"],
        "s",
    )
    result.met = None if quick else (everything.ratio or 0) <= 1.3
    if quick:
        result.notes.append(f"quick run at {label}; the target speaks of 1M")
    result.details = found
    return result
