"""Benchmark 6: the operator's estimates against what then happens, on a simulated link.

Real centre, netsim and office node as processes, on a link profile. A warm-up of a few
records lets the node measure the link's rate and the centre's decision time. Then a backlog of
residents with incompressible photos is recorded at once and, right after the last one, the
node is asked: `GET /status` → `eta_seconds` (the backlog), and `GET /records/{id}` →
`printable_eta` of every record. Then we watch what happens: when the backlog was gone (the
last record's `sent_at`, the node's own clock) and when each record became printable (its
`decided_at`). The error of each estimate is actual ÷ predicted, both counted from the moment
the estimate was given; reported as the median and the worst (furthest from 1).

The reference is the estimate an operator would make by hand from the line's nominal rate
(bytes waiting ÷ the profile's upstream rate), in the same run.

`python -m bench --only eta [--quick]`, or `python -m bench.eta [--records N] [--profile P]`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.drain import node_client
from bench.nodedb import distinct_residents
from bench.report import Result
from ektp_sync.launch import Deployment
from ektp_sync.netsim.profiles import PROFILES

PROFILE = "vsat-clear"
#: records sent before the backlog, so the node has measured the link on a steady stream of
#: uploads (a handful in a fresh connection's slow start read the rate far too low)
WARM_UP = 30
PHOTO_BYTES = 20_000
RECORDING_CONCURRENCY = 8
POLL_SECONDS = 0.5


@dataclass
class Estimates:
    profile: str
    records: int
    pending_bytes: int
    eta_seconds: float  # the node's estimate of the backlog, at `asked`
    nominal_seconds: float  # pending bytes ÷ the profile's nominal upstream rate
    drain_seconds: float  # from `asked` to the last record's acceptance
    #: asked again once a third of the backlog had gone up: (estimated, took) seconds from then
    midway: tuple[float, float] | None
    printable_ratios: list[float]  # per record: actual wait ÷ predicted wait
    #: per record in queue order: (seconds predicted, seconds it took), from when it was asked
    printable_waits: list[tuple[float, float]]
    decision_seconds: float | None  # the node's typical decision time when asked
    rate_bytes_per_s: float | None


def nominal_rate(profile: str) -> float:
    """The profile's upstream rate, bytes per second (KB = 1000 bytes, as netsim counts)."""
    for toxic in PROFILES[profile]:
        if toxic["type"] == "link_bandwidth" and toxic["stream"] == "upstream":
            return float(toxic["attributes"]["rate"]) * 1000
    raise ValueError(f"profile {profile} has no upstream bandwidth")


def worst(ratios: Sequence[float]) -> float:
    """The ratio furthest from 1 (2.0 and 0.5 are equally far)."""
    return max(ratios, key=lambda r: abs(math.log(r)))


def _at(value: str) -> float:
    return dt.datetime.fromisoformat(value).timestamp()


async def _record(http: httpx.AsyncClient, people: Sequence[dict[str, Any]]) -> list[str]:
    slots = asyncio.Semaphore(RECORDING_CONCURRENCY)

    async def one(person: dict[str, Any]) -> str:
        async with slots:
            response = await http.post("/records", json=person)
        if response.status_code != 201:
            raise RuntimeError(f"recording failed: {response.status_code} {response.text}")
        return str(response.json()["id"])

    return list(await asyncio.gather(*(one(p) for p in people)))


async def _all_approved(http: httpx.AsyncClient, ids: Sequence[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [(await http.get(f"/records/{i}")).json()["state"] for i in ids]
        if all(s == "approved" for s in states):
            return
        await asyncio.sleep(POLL_SECONDS)
    raise RuntimeError(f"not all {len(ids)} records approved within {timeout:.0f}s")


async def _midway(
    http: httpx.AsyncClient, backlog: int, timeout: float
) -> tuple[float, float] | None:
    """(when, eta_seconds) of the first /status with two thirds of the backlog left or less."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at = time.time()
        status = (await http.get("/status")).json()
        if status["pending_bytes"] <= backlog * 2 / 3:
            return None if status["eta_seconds"] is None else (at, status["eta_seconds"])
        await asyncio.sleep(POLL_SECONDS / 5)
    return None


async def measure(workdir: Path, profile: str, count: int, timeout: float) -> Estimates:
    people = distinct_residents(WARM_UP + count, seed=6, attachment_bytes=PHOTO_BYTES)
    deployment = Deployment(base_dir=workdir, profile=profile, seed=6)
    await deployment.start()
    try:
        async with node_client(deployment) as http:
            warm = await _record(http, people[:WARM_UP])
            await _all_approved(http, warm, timeout)
            ids = await _record(http, people[WARM_UP:])
            asked = time.time()
            status = (await http.get("/status")).json()
            predictions: dict[str, tuple[float, float]] = {}  # id → (asked at, printable_eta)
            for record_id in ids:
                at = time.time()
                view = (await http.get(f"/records/{record_id}")).json()
                if view["printable_eta"] is None:
                    raise RuntimeError(f"no estimate: {view['printable_eta_basis']}")
                predictions[record_id] = (at, _at(view["printable_eta"]))
            midway = await _midway(http, status["pending_bytes"], timeout)
            await _all_approved(http, ids, timeout)
            views = [(await http.get(f"/records/{i}")).json() for i in ids]
    finally:
        deployment.stop()
    if status["eta_seconds"] is None:
        raise RuntimeError(f"no backlog estimate: {status['link']}")
    drained = max(_at(v["sent_at"]) for v in views)
    again = None if midway is None else (midway[1], drained - midway[0])
    views.sort(key=lambda v: v["created_at"])  # queue order
    waits = [
        (eta - at, _at(v["decided_at"]) - at)
        for v, (at, eta) in ((v, predictions[v["id"]]) for v in views)
    ]
    # a record already printable when asked (decided during the recording) had nothing to guess
    ratios = [actual / predicted for predicted, actual in waits if predicted > 0]
    basis = views[0]["printable_eta_basis"] if views else {}
    return Estimates(
        profile=profile,
        records=count,
        pending_bytes=status["pending_bytes"],
        eta_seconds=status["eta_seconds"],
        nominal_seconds=status["pending_bytes"] / nominal_rate(profile),
        drain_seconds=drained - asked,
        midway=again,
        printable_ratios=ratios,
        printable_waits=waits,
        decision_seconds=basis.get("decision_seconds"),
        rate_bytes_per_s=status["link"]["rate_bytes_per_s"],
    )


def run(workdir: Path, quick: bool) -> Result:
    count = 60 if quick else 150
    found = asyncio.run(measure(workdir, PROFILE, count, timeout=600.0))
    return result_of(found)


def result_of(found: Estimates) -> Result:
    result = Result(
        "eta",
        f"estimates vs reality: {found.records} records with {PHOTO_BYTES // 1000} KB photos "
        f"recorded at once on {found.profile}; the backlog's eta_seconds and each record's "
        "printable_eta, as given right after, against what happened",
        target="median within ±20 %, worst within 2×",
    )
    ratios = found.printable_ratios
    drain = found.drain_seconds / found.eta_seconds
    nominal = found.drain_seconds / found.nominal_seconds
    result.add("backlog: actual ÷ estimated (ref: nominal-rate guess)", drain, nominal, "×")
    if found.midway is not None:
        estimated, took = found.midway
        result.add("backlog, asked a third of the way: actual ÷ estimated", took / estimated)
    result.add("printable: median actual ÷ estimated", statistics.median(ratios), None, "×")
    result.add("printable: worst actual ÷ estimated", worst(ratios), None, "×")
    misses = [abs(actual - predicted) for predicted, actual in found.printable_waits]
    result.add("printable: worst error", max(misses), None, "s")
    result.met = abs(math.log(statistics.median(ratios))) <= math.log(1.2) and (
        abs(math.log(worst(ratios))) <= math.log(2.0)
    )
    result.notes.append(
        f"backlog {found.pending_bytes:,} B: estimated {found.eta_seconds:.1f}s at the measured "
        f"{(found.rate_bytes_per_s or 0) / 1000:.1f} KB/s, took {found.drain_seconds:.1f}s; the "
        f"nominal-rate guess said {found.nominal_seconds:.1f}s; typical decision time "
        f"{found.decision_seconds}s"
    )
    result.details = asdict(found)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.eta", description=__doc__)
    parser.add_argument("--records", type=int, default=150)
    parser.add_argument("--profile", default=PROFILE, choices=[p for p in PROFILES])
    parser.add_argument("--workdir", type=Path, default=Path("var/bench-eta"))
    args = parser.parse_args()
    found = asyncio.run(measure(args.workdir, args.profile, args.records, timeout=900.0))
    result = result_of(found)
    for figure in result.figures:
        print(f"{figure.metric}: {figure.ours:.3f}{figure.unit}")
    print(*result.notes, sep="\n")
    details = asdict(found)
    waits = details.pop("printable_waits")
    details.pop("printable_ratios")
    print(json.dumps(details))
    for number, (predicted, actual) in enumerate(waits, 1):
        print(f"  #{number:>3}: predicted {predicted:6.1f}s, took {actual:6.1f}s")


if __name__ == "__main__":
    main()
