"""Benchmarks 1 and 2: real centre, netsim and office node as processes; time to `approved`.

1. backlog drain on loopback: the link is down (netsim `enabled: false`) while the office
   records N residents through its HTTP API; then the link comes up and we time until the node
   shows all N `approved` — default settings against the naive configuration (one record per
   request, one request in flight).
2. slow link goodput: 256 KB/s, 600 ms RTT and occasional connection resets; residents with
   40 KB of incompressible attachments are recorded at once and we time until all are
   `approved`, against the physical limit (minimal bytes on the wire ÷ link rate).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.nodedb import distinct_residents, rss_mib
from bench.report import Result
from ektp_sync.launch import Deployment
from ektp_sync.netsim.client import NetSimClient

NAIVE = ("--batch-size", "1", "--max-in-flight", "1")
#: set by `python -m bench --profile DIR`: py-spy samples the centre and the node while draining
PROFILE_DIR: Path | None = None
#: the product's real path is TLS; `python -m bench --plain-http` measures without it, beside
TLS = True
POLL_SECONDS = 0.25
NAIVE_BUDGET_SECONDS = 240.0
RECORDING_CONCURRENCY = 8
PROXY = "wan"


@dataclass
class Drain:
    config: str
    records: int
    seconds: float  # from the start signal to all approved (or to the timeout)
    approved: int
    complete: bool
    peak_rss_mib: float

    @property
    def rate(self) -> float:
        return self.approved / self.seconds if self.seconds else 0.0


def node_client(d: Deployment, timeout: float = 60) -> httpx.AsyncClient:
    """An HTTP client of the office node's API, as its supervisor (every route but /healthz
    and /metrics wants an operator's token)."""
    return httpx.AsyncClient(
        base_url=d.local_url() + "/api/v1",
        headers=d.operator_headers(),
        timeout=timeout,
        verify=d.verify,
    )


async def _record_all(d: Deployment, people: Sequence[dict[str, Any]]) -> None:
    slots = asyncio.Semaphore(RECORDING_CONCURRENCY)
    async with node_client(d) as http:

        async def one(person: dict[str, Any]) -> None:
            async with slots:
                response = await http.post("/records", json=person)
            if response.status_code != 201:
                raise RuntimeError(f"recording failed: {response.status_code} {response.text}")

        await asyncio.gather(*(one(p) for p in people))


async def _wait_approved(d: Deployment, count: int, timeout: float, started: float) -> int:
    """Poll the node's /status until `count` records are approved; returns how many were."""
    approved = 0
    deadline = started + timeout
    async with node_client(d, timeout=10) as http:
        while time.perf_counter() < deadline:
            counts = (await http.get("/status")).json()["counts"]
            approved = int(counts.get("approved", 0))
            if approved >= count:
                break
            await asyncio.sleep(POLL_SECONDS)
    return approved


async def _run_deployment(
    workdir: Path,
    config: str,
    people: Sequence[dict[str, Any]],
    timeout: float,
    prepare: Callable[[NetSimClient, Deployment], Awaitable[None]],
    link_down_while_recording: bool,
) -> Drain:
    deployment = Deployment(
        base_dir=workdir / config,
        profile="",  # a netsim in the path, no toxics until `prepare` adds them
        seed=5,
        local_extra=NAIVE if config == "naive" else (),
        tls=TLS,
    )
    await deployment.start()
    try:
        async with NetSimClient(deployment.netsim_api_url) as link:
            if link_down_while_recording:
                await link.set_enabled(PROXY, False)
                await _record_all(deployment, people)
                await prepare(link, deployment)
                started = time.perf_counter()
                await link.set_enabled(PROXY, True)
            else:
                await prepare(link, deployment)
                started = time.perf_counter()
                await _record_all(deployment, people)
            with profiled(deployment, f"{workdir.name}-{config}"):
                approved = await _wait_approved(deployment, len(people), timeout, started)
            seconds = time.perf_counter() - started
        pid = deployment.locals[deployment.offices[0]].pid
        peak = rss_mib(pid)[1] if pid else 0.0
    finally:
        deployment.stop()
    return Drain(config, len(people), seconds, approved, approved >= len(people), peak)


@contextlib.contextmanager
def profiled(deployment: Deployment, label: str) -> Iterator[None]:
    """py-spy (raw collapsed stacks) on the centre and the office node, when asked for."""
    if PROFILE_DIR is None:
        yield
        return
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    targets = {"central": deployment.central.pid, "local": deployment.locals["6172"].pid}
    spies = [
        subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(pid),
                "--rate",
                "100",
                "--format",
                "raw",
                "--nonblocking",
                "-o",
                str(PROFILE_DIR / f"{label}-{name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in targets.items()
        if pid is not None
    ]
    try:
        yield
    finally:
        for process in spies:
            process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for process in spies:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


async def _no_toxics(_link: NetSimClient, _deployment: Deployment) -> None:
    return None


def run_loopback(workdir: Path, quick: bool) -> Result:
    count = 500 if quick else 20_000
    timeout = 120.0 if quick else 900.0
    people = distinct_residents(count, seed=1)
    # naive drains at a few records/s: in the full run its rate comes from its first minutes
    budget = {"default": timeout, "naive": timeout if quick else NAIVE_BUDGET_SECONDS}
    runs = [
        asyncio.run(_run_deployment(workdir / "loopback", c, people, budget[c], _no_toxics, True))
        for c in ("default", "naive")
    ]
    ours, naive = runs
    result = Result(
        "drain",
        f"backlog of {count:,} records (template only) recorded while the link was down; link up"
        " → all approved, on loopback",
        target="≥ 15× naive",
    )
    result.add("drain rate", ours.rate, naive.rate, "records/s")
    result.add("drain time", ours.seconds, naive.seconds, "s")
    result.met = (
        ours.complete and result.figures[0].ratio is not None and (result.figures[0].ratio >= 15)
    )
    for run in runs:
        if not run.complete:
            result.notes.append(
                f"{run.config}: {run.approved}/{run.records} approved when stopped after"
                f" {run.seconds:.0f}s; its rate is over that time"
            )
    result.details = {"runs": [vars(r) for r in runs]}
    return result


def _ideal_upstream_bytes(people: Sequence[dict[str, Any]]) -> int:
    """The smallest contract-conforming upload: every item once, in one gzipped body."""
    now = dt.datetime.now(dt.UTC).isoformat()
    items = [
        {
            "submission_id": f"6172-{os.urandom(16).hex()}",
            "office_code": "6172",
            "recorded_at": now,
            "record": person,
        }
        for person in people
    ]
    body = json.dumps({"items": items}, separators=(",", ":")).encode()
    return len(gzip.compress(body, compresslevel=6))


RATE_KBS = 256.0  # KB/s, KB = 1000 B (Toxiproxy's unit)
RTT_MS = 600


async def _slow_link(link: NetSimClient, _deployment: Deployment) -> None:
    for stream in ("upstream", "downstream"):
        await link.add_toxic(
            PROXY, "latency", stream, attributes={"latency": RTT_MS // 2, "jitter": 0}
        )
        await link.add_toxic(PROXY, "link_bandwidth", stream, attributes={"rate": RATE_KBS})
    # occasional resets: a "lost" packet resets the connection; ~1 in 3,000 packets of 1460 B,
    # i.e. about one reset per 4 MB sent
    await link.add_toxic(
        PROXY,
        "loss",
        "upstream",
        attributes={"p": 1 / 3000, "r": 1.0, "loss_good": 0.0, "loss_bad": 1.0, "reset": 1.0},
    )


def run_slow_link(workdir: Path, quick: bool) -> Result:
    count = 40 if quick else 100
    people = distinct_residents(count, seed=2, attachment_bytes=40_000)
    ideal = _ideal_upstream_bytes(people)
    limit = ideal / (RATE_KBS * 1000)
    timeout = 240.0 if quick else 600.0
    runs = [
        asyncio.run(_run_deployment(workdir / "slow", c, people, timeout, _slow_link, False))
        for c in ("default", "naive")
    ]
    ours, naive = runs
    result = Result(
        "slowlink",
        f"{count} records with 40 KB incompressible attachments over 256 KB/s, 600 ms RTT,"
        " occasional resets; record → all approved",
        target="≤ 1.2× physical limit",
    )
    result.add("drain time (ref: limit)", ours.seconds, limit, "s")
    result.add("naive drain time (ref: limit)", naive.seconds, limit, "s")
    result.add(
        "goodput", ideal / ours.seconds / 1000, ideal / naive.seconds / 1000, "KB/s (ref: naive)"
    )
    over = ours.seconds / limit
    result.met = ours.complete and over <= 1.2
    result.notes.append(
        f"physical limit = {ideal:,} B (all items once, one gzipped body) ÷ {RATE_KBS:g} KB/s ="
        f" {limit:.1f}s; ours {over:.2f}× it, naive {naive.seconds / limit:.2f}×"
    )
    for run in runs:
        if not run.complete:
            result.notes.append(
                f"{run.config}: only {run.approved}/{run.records} approved after {run.seconds:.0f}s"
            )
    result.details = {"ideal_bytes": ideal, "limit_seconds": limit, "runs": [vars(r) for r in runs]}
    return result
