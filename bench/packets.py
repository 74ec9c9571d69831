"""Benchmarks 8 and 9, heavy packets: real centre, netsim and office node as processes.

8. `packets`: residents with 1.5 MB of incompressible attachments (a photo, ten fingerprints,
   two irises, a signature: 14 files) over a shared 500 KB/s link, 300 ms one way, whose
   connections are cut at random, on average every ~4 s (and ~15 s) of sending: a `loss` toxic
   whose every loss resets the connection it hits, with p set so that the link as a whole sees
   one cut per 4 (15) seconds of traffic. Drain time from the first recording to all approved,
   against the physical limit (raw attachment bytes + 1 KB per record, ÷ rate); bytes the
   office sent (netsim's upstream counter: TLS, headers, handshakes and every byte thrown away
   by a cut included) against that information. The whole-batch sender (`--inline-attachments`,
   as before heavy packets) is measured in the same run as the baseline.
9. `smallfirst`: a resident without attachments recorded behind 100 MB of queued packets on
   the same link (no cuts): time from its POST to its decision at the node, in round trips.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import drain
from bench.nodedb import distinct_residents
from bench.report import Result
from ektp_sync.launch import Deployment
from ektp_sync.netsim.client import NetSimClient

RATE_KBS = 500.0  # shared by both directions' toxics, KB = 1000 B
ONE_WAY_MS = 300
PACKET_BYTES = 1_460  # the loss toxic's packet size (its default)
#: a realistic e-KTP packet: name → share of the record's attachment bytes
PARTS = {"photo": 0.30, "signature": 0.04, "iris_left": 0.09, "iris_right": 0.09} | {
    f"finger_{i}": 0.048 for i in range(10)
}
INFO_PER_RECORD = 1_000  # the core (demographics, template, manifest), as the target counts it
INLINE = ("--inline-attachments",)
POLL = 0.25


@dataclass
class Run:
    config: str
    cut_every: float
    seconds: float
    approved: int
    complete: bool
    upstream_bytes: int


def heavy_people(count: int, seed: int, record_bytes: int) -> list[dict[str, Any]]:
    people = distinct_residents(count, seed=seed)
    out = []
    for person in people:
        files = {
            name: base64.b64encode(os.urandom(int(record_bytes * share))).decode("ascii")
            for name, share in PARTS.items()
        }
        biometrics = {**person["biometrics"], "attachments": files}  # type: ignore[dict-item]
        out.append({**person, "biometrics": biometrics})
    return out


def raw_bytes(people: Sequence[dict[str, Any]]) -> int:
    return sum(
        len(base64.b64decode(value))
        for p in people
        for value in p["biometrics"]["attachments"].values()
    )


async def shape(link: NetSimClient, cut_every: float | None) -> None:
    """The link of the issue: shared rate, latency each way, and random cuts."""
    for stream in ("upstream", "downstream"):
        attributes = {"latency": ONE_WAY_MS, "jitter": 0}
        await link.add_toxic(drain.PROXY, "latency", stream, attributes=attributes)
        await link.add_toxic(drain.PROXY, "link_bandwidth", stream, attributes={"rate": RATE_KBS})
    if cut_every:
        # one lost packet (and so one reset connection) per `cut_every` seconds of sending
        p = PACKET_BYTES / (RATE_KBS * 1000 * cut_every)
        lossy: dict[str, float] = {"p": p, "r": 1.0, "loss_good": 0.0, "loss_bad": 1.0}
        lossy |= {"reset": 1.0, "rto": 0.0}
        await link.add_toxic(drain.PROXY, "loss", "upstream", attributes=lossy)


async def upstream_bytes(d: Deployment) -> int:
    """Bytes the netsim read from the office (its Toxiproxy-style counter)."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(d.netsim_api_url + "/metrics")).text
    pattern = r'toxiproxy_proxy_received_bytes_total\{direction="upstream"[^}]*\} ([0-9.e+]+)'
    return int(sum(float(v) for v in re.findall(pattern, text)))


async def _drain(
    workdir: Path, config: str, people: Sequence[dict[str, Any]], cut: float, timeout: float
) -> Run:
    d = Deployment(
        base_dir=workdir / f"{config}-{cut:g}",
        profile="",
        seed=7,
        local_extra=INLINE if config == "inline" else (),
        tls=drain.TLS,
    )
    await d.start()
    try:
        async with NetSimClient(d.netsim_api_url) as link:
            await shape(link, cut)
            before = await upstream_bytes(d)
            started = time.perf_counter()
            await drain._record_all(d, people)
            approved = await drain._wait_approved(d, len(people), timeout, started)
            seconds = time.perf_counter() - started
            sent = await upstream_bytes(d) - before
    finally:
        d.stop()
    return Run(config, cut, seconds, approved, approved >= len(people), sent)


def run(workdir: Path, quick: bool) -> Result:
    count = 4 if quick else 12
    people = heavy_people(count, seed=8, record_bytes=1_500_000)
    information = raw_bytes(people) + INFO_PER_RECORD * count
    limit = information / (RATE_KBS * 1000)
    cuts = (4.0,) if quick else (4.0, 15.0)
    runs = [
        asyncio.run(_drain(workdir, config, people, cut, timeout=max(60.0, 6 * limit)))
        for cut in cuts
        for config in ("packets", "inline")
    ]
    result = Result(
        "packets",
        f"{count} records × 1.5 MB attachments (14 files) over a shared {RATE_KBS:g} KB/s link, "
        f"{ONE_WAY_MS} ms one way, connections cut at random every ~4 s (~15 s) of sending; "
        "record → all approved",
        target="drain ≤ 1.3× limit, bytes ≤ 1.15× information",
    )
    met = True
    for r in runs:
        label = f"{r.config}, cut ~{r.cut_every:g}s"
        result.add(f"drain time, {label} (ref: limit)", r.seconds, limit, "s")
        result.add(f"bytes sent, {label} (ref: information)", r.upstream_bytes, information, "B")
        if r.config == "packets":
            met = met and r.complete and r.seconds <= 1.3 * limit
            met = met and r.upstream_bytes <= 1.15 * information
        if not r.complete:
            result.notes.append(f"{label}: {r.approved}/{count} approved after {r.seconds:.0f}s")
    result.met = met
    result.notes.append(
        f"limit = {information:,} B (raw attachments + 1 KB per record) ÷ {RATE_KBS:g} KB/s = "
        f"{limit:.1f}s; baseline = the whole-batch sender (--inline-attachments)"
    )
    result.details = {
        "information_bytes": information,
        "limit_seconds": limit,
        "runs": [vars(r) for r in runs],
    }
    return result


async def _small_behind(workdir: Path, heavy: Sequence[dict[str, Any]], timeout: float) -> float:
    d = Deployment(base_dir=workdir / "smallfirst", profile="", seed=9, tls=drain.TLS)
    await d.start()
    try:
        async with NetSimClient(d.netsim_api_url) as link:
            await shape(link, None)
            await drain._record_all(d, heavy)
            async with drain.node_client(d) as http:
                deadline = time.perf_counter() + timeout
                # the packets are travelling: the small one is recorded behind them
                while not (await http.get("/status")).json()["packets"]["in_flight"]:
                    if time.perf_counter() > deadline:
                        raise RuntimeError("no packet started travelling")
                    await asyncio.sleep(POLL)
                [small] = distinct_residents(1, seed=99)
                started = time.perf_counter()
                created = await http.post("/records", json=small)
                record_id = created.raise_for_status().json()["id"]
                while time.perf_counter() < deadline:
                    state = (await http.get(f"/records/{record_id}")).json()["state"]
                    if state in ("approved", "rejected", "review"):
                        return time.perf_counter() - started
                    await asyncio.sleep(0.05)
                raise RuntimeError("the small record was not decided in time")
    finally:
        d.stop()


def run_small_first(workdir: Path, quick: bool) -> Result:
    count = 10 if quick else 50  # × 2 MB: 20 MB (quick) or 100 MB queued
    heavy = heavy_people(count, seed=10, record_bytes=2_000_000)
    queued = raw_bytes(heavy)
    seconds = asyncio.run(_small_behind(workdir, heavy, timeout=120.0))
    rtt = 2 * ONE_WAY_MS / 1000
    result = Result(
        "smallfirst",
        f"a record without attachments recorded behind {queued / 1e6:.0f} MB of queued packets "
        f"on {RATE_KBS:g} KB/s, {ONE_WAY_MS} ms one way → its decision at the node",
        target="≤ 3 round trips + centre time",
    )
    result.add("time to decision (ref: round trip)", seconds, rtt, "s")
    result.met = seconds <= 3 * rtt + 0.2  # the centre's decision takes milliseconds here
    result.notes.append(
        f"{seconds / rtt:.1f} round trips; the whole backlog would take "
        f"{queued / (RATE_KBS * 1000):.0f}s at the link's rate"
    )
    result.details = {"queued_bytes": queued, "seconds": seconds, "rtt": rtt}
    return result
