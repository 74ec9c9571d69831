"""The drain against a realistic centre: one that already holds a big register.

The drain of bench 1 starts with an empty centre, where matching costs nothing. Here the same
product (centre, netsim and office node as processes, TLS, the node's defaults) drains against
a centre holding N identities loaded in bulk (bigcentre.populate, SQLite), in two ways:

- **backlog**: records made while the link is down, then the link comes up (as bench 1): the
  centre decides them in batches of 200, one pass over the gallery per batch;
- **trickle**: the link is up and records are made one after another (one client, each POST
  after the last one's 201): each can arrive alone, and a probe alone is a pass over the whole
  gallery for one record.

Each beside the same run against an empty centre, in the same benchmark.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

from bench.bigcentre import populate
from bench.drain import _record_all, _wait_approved, node_client
from bench.nodedb import distinct_residents
from bench.report import Result
from ektp_sync.launch import Deployment
from ektp_sync.netsim.client import NetSimClient

PROXY = "wan"


async def _record_one_by_one(d: Deployment, people: list[dict[str, Any]]) -> None:
    async with node_client(d) as http:
        for person in people:
            response = await http.post("/records", json=person)
            if response.status_code != 201:
                raise RuntimeError(f"recording failed: {response.status_code} {response.text}")


async def _drain(
    workdir: Path,
    db: Path | None,
    people: list[dict[str, Any]],
    trickle: bool,
    timeout: float,
    key_file: Path,
) -> dict[str, Any]:
    d = Deployment(
        base_dir=workdir,
        profile="",
        seed=5,
        central_db=f"sqlite:///{db}" if db else None,
        # the register was sealed under this key (bigcentre.populate)
        central_extra=["--data-key-file", str(key_file)],
    )
    await d.start(timeout=timeout)  # the centre loads its whole gallery before it is healthy
    try:
        async with NetSimClient(d.netsim_api_url) as link:
            if trickle:
                started = time.perf_counter()
                await _record_one_by_one(d, people)
            else:
                await link.set_enabled(PROXY, False)
                await _record_all(d, people)
                started = time.perf_counter()
                await link.set_enabled(PROXY, True)
            approved = await _wait_approved(d, len(people), timeout, started)
            seconds = time.perf_counter() - started
    finally:
        d.stop()
    return {"records": len(people), "approved": approved, "seconds": seconds}


def run(workdir: Path, quick: bool) -> Result:
    size, backlog, trickle = (100_000, 500, 100) if quick else (1_000_000, 5_000, 300)
    timeout = 300.0 if quick else 900.0
    people = distinct_residents(2 * backlog + 2 * trickle, seed=11)
    batches = [people[i * backlog : (i + 1) * backlog] for i in range(2)]
    slow = people[2 * backlog :]
    register = workdir / "register.db"
    started = time.perf_counter()
    key_file = workdir / "data.key"
    asyncio.run(populate(f"sqlite:///{register}", size, key_file))
    populated = time.perf_counter() - started

    def copy(name: str) -> Path:
        target = workdir / name / "central.db"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(register, target)
        return target

    runs = {
        "backlog, empty": asyncio.run(
            _drain(workdir / "e", None, batches[0], False, timeout, key_file)
        ),
        "backlog, full": asyncio.run(
            _drain(workdir / "f", copy("f"), batches[1], False, timeout, key_file)
        ),
        "trickle, empty": asyncio.run(
            _drain(workdir / "te", None, slow[:trickle], True, timeout, key_file)
        ),
        "trickle, full": asyncio.run(
            _drain(workdir / "tf", copy("tf"), slow[trickle:], True, timeout, key_file)
        ),
    }
    label = f"{size // 1000:,}k"
    result = Result(
        "realdrain",
        f"drain against a centre already holding {label} identities (bulk loaded), beside an"
        " empty centre: a backlog after an outage, and records arriving one by one",
    )
    for kind in ("backlog", "trickle"):
        full, empty = runs[f"{kind}, full"], runs[f"{kind}, empty"]
        result.add(
            f"{kind} @ {label} (ref: empty centre)",
            full["approved"] / full["seconds"],
            empty["approved"] / empty["seconds"],
            "records/s",
        )
    for name, found in runs.items():
        if found["approved"] < found["records"]:
            result.notes.append(
                f"{name}: {found['approved']}/{found['records']} approved"
                f" in {found['seconds']:.0f}s"
            )
    result.notes.append(
        f"backlog: {backlog:,} records; trickle: {trickle} records posted one after another;"
        f" register of {label} loaded in {populated:.0f}s"
    )
    result.details = {"size": size, "populate_seconds": populated, "runs": runs}
    return result
