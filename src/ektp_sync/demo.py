"""The demo: a centre, a simulated link and an office node as real processes, fed synthetic
residents through the office's HTTP API, until every record has its decision.

Steps: record phase 1 (distinct people), wait for their decisions, record phase 2 (planted
duplicates), wait, adjudicate the `review` cases at the centre (every other one approved), wait,
print every approved card, then compare all decisions with the planted truth.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ektp_sync.launch import Deployment
from ektp_sync.synth import SyntheticResident, generate

API = "/api/v1"
POST_CONCURRENCY = 8
POLL_SECONDS = 0.5


class DemoFailed(RuntimeError):
    pass


@dataclass
class DemoReport:
    records: int
    recorded: int = 0
    record_errors: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    actual: Counter[tuple[str, str]] = field(default_factory=Counter)
    expected: Counter[tuple[str, str]] = field(default_factory=Counter)
    printed: int = 0
    attempts: int = 0
    seconds_recording: float = 0.0
    seconds_total: float = 0.0
    central_stats: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.record_errors and not self.mismatches and self.recorded == self.records


def link_note(link: dict[str, Any]) -> str:
    """The link's state for a progress line; an error only while it is current (the node keeps
    the last one after the link has recovered)."""
    reachable = link.get("reachable")
    state = "up" if reachable else "not contacted yet" if reachable is None else "down"
    error = link.get("last_error")
    if link.get("consecutive_failures") and error:
        return f"link {state}: {error[:50]}"
    return f"link {state}"


class _Run:
    def __init__(self, deployment: Deployment, progress: Progress, report: DemoReport) -> None:
        self.d = deployment
        self.progress = progress
        self.report = report
        self.local = httpx.AsyncClient(
            base_url=deployment.local_url() + API,
            # the office's supervisor: the demo records, and prints every approved card
            headers=deployment.operator_headers(),
            timeout=60,
            verify=deployment.verify,
        )
        self.central = httpx.AsyncClient(
            base_url=deployment.central_url + API,
            headers={"Authorization": f"Bearer {deployment.admin_key}"},
            timeout=60,
            verify=deployment.verify,
        )
        self.ids: dict[int, str] = {}  # resident index → local record id

    async def close(self) -> None:
        await self.local.aclose()
        await self.central.aclose()

    async def record(self, residents: list[SyntheticResident], label: str) -> None:
        task = self.progress.add_task(f"recording {label}", total=len(residents))
        gate = asyncio.Semaphore(POST_CONCURRENCY)

        async def one(resident: SyntheticResident) -> None:
            async with gate:
                response = await self.local.post("/records", json=resident.record)
            if response.status_code == 201:
                self.ids[resident.index] = response.json()["id"]
                self.report.recorded += 1
            else:
                self.report.record_errors.append(
                    f"resident {resident.index}: HTTP {response.status_code} {response.text[:200]}"
                )
            self.progress.advance(task)

        await asyncio.gather(*(one(r) for r in residents))

    async def all_records(self) -> dict[str, dict[str, Any]]:
        """Every record of the office by id, through the paged listing."""
        found: dict[str, dict[str, Any]] = {}
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            page = (await self.local.get("/records", params=params)).raise_for_status().json()
            found.update((r["id"], r) for r in page["records"])
            cursor = page.get("next_cursor")
            if not cursor or not page["records"]:
                return found

    async def wait_states(
        self,
        residents: Iterable[SyntheticResident],
        final: set[str],
        label: str,
        deadline: float,
    ) -> None:
        """Poll the office until each resident's record is in one of `final` states."""
        waiting = {self.ids[r.index] for r in residents if r.index in self.ids}
        total = len(waiting)
        task = self.progress.add_task(label, total=total)
        while True:
            records = await self.all_records()
            waiting = {i for i in waiting if records[i]["state"] not in final}
            self.progress.update(task, completed=total - len(waiting))
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise DemoFailed(f"{len(waiting)} records had no decision before the deadline")
            link = (await self.local.get("/status")).json()["central"]
            self.progress.update(task, description=f"{label} ({link_note(link)})")
            await asyncio.sleep(POLL_SECONDS)

    async def adjudicate(self, reviews: list[SyntheticResident]) -> None:
        for k, resident in enumerate(reviews):
            record = (await self.local.get(f"/records/{self.ids[resident.index]}")).json()
            approve = k % 2 == 0
            response = await self.central.post(
                f"/reviews/{record['submission_id']}",
                json={"decision": "approve" if approve else "reject"},
            )
            response.raise_for_status()
            resident.expected = (
                {"status": "approved", "reason": "adjudicated"}
                if approve
                else {"status": "rejected", "reason": "duplicate_identity"}
            )

    async def print_cards(self) -> None:
        for record_id, record in (await self.all_records()).items():
            if record["state"] == "approved":
                response = await self.local.post(f"/records/{record_id}/print")
                if response.status_code == 200:
                    self.report.printed += 1
                else:
                    self.report.mismatches.append(f"print of {record_id}: {response.text[:200]}")

    async def compare(self, residents: list[SyntheticResident]) -> None:
        records = await self.all_records()
        for resident in residents:
            if resident.index not in self.ids:
                continue
            record = records[self.ids[resident.index]]
            self.report.attempts += record["attempts"]
            decision = record.get("decision") or {}
            got = (decision.get("status", record["state"]), decision.get("reason", "-"))
            if record["state"] == "printed":
                got = ("approved", decision.get("reason", "-"))
            want = (resident.expected["status"], resident.expected["reason"])
            self.report.actual[got] += 1
            self.report.expected[want] += 1
            if got != want:
                self.report.mismatches.append(
                    f"resident {resident.index} ({resident.kind}): expected {want}, got {got}"
                )
        self.report.central_stats = (await self.central.get("/stats")).json()


async def run_demo(
    records: int,
    profile: str | None,
    seed: int,
    data_dir: Path,
    timeout: float,
    console: Console,
    *,
    attachment_bytes: int = 0,
) -> DemoReport:
    residents = generate(records, seed, attachment_bytes=attachment_bytes)
    report = DemoReport(records=records)
    started = time.monotonic()
    deadline = started + timeout
    base_dir = data_dir / f"demo-{time.strftime('%Y%m%d-%H%M%S')}-{seed}"
    deployment = Deployment(base_dir, profile=profile, seed=seed)
    console.print(
        f"Starting centre, network simulator ({profile}) and office node in {base_dir}, "
        f"on TLS (throwaway CA: {base_dir / 'tls' / 'ca.pem'})"
    )
    await deployment.start()
    try:
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        run = _Run(deployment, progress, report)
        try:
            with progress:
                phase1 = [r for r in residents if r.phase == 1]
                phase2 = [r for r in residents if r.phase == 2]
                decided = {"approved", "rejected", "review", "failed"}
                await run.record(phase1, "phase 1 (distinct residents)")
                report.seconds_recording = time.monotonic() - started
                await run.wait_states(phase1, decided, "decisions phase 1", deadline)
                await run.record(phase2, "phase 2 (planted duplicates)")
                await run.wait_states(phase2, decided, "decisions phase 2", deadline)
                reviews = [
                    r for r in residents if r.kind == "possible_duplicate" and r.index in run.ids
                ]
                await run.adjudicate(reviews)
                await run.wait_states(reviews, {"approved", "rejected"}, "adjudications", deadline)
                await run.print_cards()
            await run.compare(residents)
        finally:
            await run.close()
    except BaseException:
        console.print(f"[red]demo stopped early[/]; logs are in {base_dir / 'logs'}")
        raise
    finally:
        deployment.stop()
    report.seconds_total = time.monotonic() - started
    return report


def render(console: Console, report: DemoReport) -> None:
    table = Table(title="Decisions: planted truth against what the centre decided")
    for column in ("status", "reason", "expected", "actual"):
        table.add_column(column, justify="right" if column in ("expected", "actual") else "left")
    for key in sorted(set(report.expected) | set(report.actual)):
        style = "" if report.expected[key] == report.actual[key] else "red"
        table.add_row(
            key[0], key[1], str(report.expected[key]), str(report.actual[key]), style=style
        )
    console.print(table)
    stats = report.central_stats
    console.print(
        f"records {report.records}, recorded {report.recorded}, printed {report.printed}, "
        f"upload attempts {report.attempts}; centre: {stats.get('enrollments')} enrollments, "
        f"{stats.get('identities')} identities; recording took {report.seconds_recording:.1f}s, "
        f"everything {report.seconds_total:.1f}s"
    )
    for problem in (report.record_errors + report.mismatches)[:20]:
        console.print(f"[red]{problem}[/]")
    console.print(
        "[green]OK: every decision matches the planted truth[/]"
        if report.ok
        else "[red]FAILED: see the lines above[/]"
    )
