"""Benchmark 5: an office node holding Singkawang's backlog of 137,533 queued records.

Claim latency is timed in this process on the node's own database (claim a batch of the node's
default size, give it back, again), at 137,533 entries against 1,000. Resident memory is that
of a real node process (`ektp-sync local serve`) on the same database while its uploads are in
flight: the "centre" accepts the connections and never answers, so the pusher holds its
batches (as many as `max_in_flight`) for the whole watch, while an operator polls /status and
/uploads/pending. The RSS is read with those batches in flight, and the peak (VmHWM) beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bench.nodedb import (
    add_missing_indexes,
    create_node_db,
    distinct_residents,
    fill_backlog,
    node_sealer,
    rss_mib,
)
from bench.report import Result
from ektp_sync.config import LocalSettings
from ektp_sync.launch import LOOPBACK, Deployment, free_port
from ektp_sync.storage import create_engine
from ektp_sync.testing import OfficeClient
from local_server.store.queue import Outbox
from local_server.store.sealed import NodeSealer

SINGKAWANG_BACKLOG = 137_533
SMALL_BACKLOG = 1_000
_DEFAULTS = LocalSettings.model_fields
#: the node's own defaults: what its pusher claims
BATCH = _DEFAULTS["batch_size"].default
MAX_BYTES = _DEFAULTS["batch_bytes"].default
LEASE = _DEFAULTS["lease_seconds"].default


async def claim_latency(url: str, repeats: int, sealer: NodeSealer) -> float:
    """Median seconds of one claim of a default batch (given back after each round)."""
    engine = create_engine(url)
    box = Outbox(engine, owner="bench", sealer=sealer)
    times = []
    try:
        for _ in range(repeats):
            t = time.perf_counter()
            batch = await box.claim(BATCH, MAX_BYTES, LEASE)
            times.append(time.perf_counter() - t)
            if len(batch) != BATCH:
                raise RuntimeError(f"claimed {len(batch)} entries, expected {BATCH}")
            await box.release([e.record_id for e in batch])
    finally:
        await engine.dispose()
    return statistics.median(times)


@contextlib.asynccontextmanager
async def silent_centre() -> AsyncIterator[str]:
    """A "centre" that takes every request and never answers; its URL."""
    held: list[asyncio.StreamWriter] = []
    handlers: list[asyncio.Task[Any]] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        if (task := asyncio.current_task()) is not None:
            handlers.append(task)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(swallow, LOOPBACK, free_port())
    try:
        yield f"http://{LOOPBACK}:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for writer in held:
            writer.close()
        # each handler then reads the end of its connection and returns
        await asyncio.gather(*handlers, return_exceptions=True)


async def node_memory(
    workdir: Path, url: str, seconds: float, key_file: Path
) -> tuple[float, float, int, int]:
    """(RSS with uploads in flight, peak RSS) in MiB of a node working this backlog (sealed
    under the data key in `key_file`); the records in flight (uploading) when the RSS was
    read; polls made."""
    async with silent_centre() as centre_url:
        deployment = Deployment(
            base_dir=workdir,
            local_dbs={"6172": url},
            # the node's centre is the silent one (the last option wins); the unanswered
            # uploads stay in flight for the whole watch
            local_extra=[
                "--central-url",
                centre_url,
                "--request-timeout",
                str(seconds * 4),
                "--data-key-file",
                str(key_file),
            ],
        )
        node = deployment.locals["6172"]
        node.start()
        try:
            await node.wait_ready(120)
            deadline = time.monotonic() + seconds
            polls = 0
            async with OfficeClient.of(deployment) as office:
                while time.monotonic() < deadline:
                    pending = await office.http.get("/uploads/pending", params={"limit": 50})
                    pending.raise_for_status()
                    await office.status()
                    polls += 1
                    await asyncio.sleep(1.0)
                assert node.pid is not None
                now, peak = rss_mib(node.pid)
                in_flight = (await office.status())["counts"]["uploading"]
        finally:
            deployment.stop()
    return now, peak, in_flight, polls


def run(workdir: Path, quick: bool) -> Result:
    people = distinct_residents(SINGKAWANG_BACKLOG, seed=7)
    key_file = workdir / "data.key"
    sealer = node_sealer(key_file)
    urls = {}
    for count in (SINGKAWANG_BACKLOG, SMALL_BACKLOG):
        path = workdir / f"backlog-{count}" / "local.db"
        urls[count] = asyncio.run(create_node_db(path))
        fill_backlog(path, people[:count], sealer)
    repeats = 10 if quick else 30
    big = asyncio.run(claim_latency(urls[SINGKAWANG_BACKLOG], repeats, sealer))
    small = asyncio.run(claim_latency(urls[SMALL_BACKLOG], repeats, sealer))
    # the schema as the node's migrations make it is what counts; an index declared in
    # store.tables but not yet migrated is shown beside it, measured on the same data
    added = add_missing_indexes(workdir / f"backlog-{SINGKAWANG_BACKLOG}" / "local.db")
    if added:
        add_missing_indexes(workdir / f"backlog-{SMALL_BACKLOG}" / "local.db")
        big_ix = asyncio.run(claim_latency(urls[SINGKAWANG_BACKLOG], repeats, sealer))
        small_ix = asyncio.run(claim_latency(urls[SMALL_BACKLOG], repeats, sealer))
    seconds = 15.0 if quick else 60.0
    rss_big = asyncio.run(
        node_memory(workdir / "node-big", urls[SINGKAWANG_BACKLOG], seconds, key_file)
    )
    rss_small = asyncio.run(
        node_memory(workdir / "node-small", urls[SMALL_BACKLOG], seconds, key_file)
    )
    result = Result(
        "backlog",
        f"office node holding {SINGKAWANG_BACKLOG:,} queued records (ref: {SMALL_BACKLOG:,}),"
        " centre unreachable",
        target="RSS ≤ 250 MiB; claim ≤ 2× at 1,000",
    )
    claim = result.add(f"claim latency (batch of {BATCH})", big * 1000, small * 1000, "ms")
    if added:
        result.add(
            f"claim latency with {', '.join(added)} (not migrated yet)",
            big_ix * 1000,
            small_ix * 1000,
            "ms",
        )
    result.add("node peak RSS", rss_big[1], rss_small[1], "MiB")
    result.add("node RSS, uploads in flight", rss_big[0], rss_small[0], "MiB")
    result.add("records in flight then", rss_big[2], rss_small[2], "records")
    slowdown = big / small
    result.met = rss_big[1] <= 250 and slowdown <= 2
    result.notes.append(
        f"claim at {SINGKAWANG_BACKLOG:,} is {slowdown:.2f}× the claim at {SMALL_BACKLOG:,}"
        f"; node watched for {seconds:.0f}s each with its uploads in flight (the centre"
        " takes them and never answers)"
    )
    result.details = {
        "claim_seconds": {"big": big, "small": small},
        "rss_mib": {"big": rss_big[:2], "small": rss_small[:2]},
        "in_flight": {"big": rss_big[2], "small": rss_small[2]},
        "batch": BATCH,
        "claim_ratio": claim.ratio,
        "unmigrated_indexes": added,
        "claim_seconds_with_unmigrated": {"big": big_ix, "small": small_ix} if added else None,
    }
    return result
