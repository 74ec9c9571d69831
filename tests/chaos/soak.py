"""The chaos soak: planted-truth records through a faulty WAN while the processes crash.

A real centre, network simulator and office node (`ektp_sync.launch.Deployment`) take
synthetic residents with planted duplicates (`ektp_sync.synth.generate`). Phase 1 (distinct
people) is posted, then, once it is decided, phase 2 (the planted duplicates), as an office
would. Meanwhile `NetworkChaos` throws seeded faults at the link and `Crasher` SIGKILLs the
office and the centre at seeded points of progress. A POST cut off by a crash is resolved the
way an operator would: once the office answers again, look for the record by NIK; only if it
was not stored, record it again. Then the `review` cases are adjudicated at the centre, and
`verify` checks the guarantees. With `attachment_bytes`, every `heavy_every`-th resident
carries a photo that travels as a tus upload after the core, and `packets` checks, live and at
the end, that no approval is published before its packet is whole. Used by `test_soak.py` and
by `python -m tests.chaos`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ektp_sync.launch import Deployment
from ektp_sync.synth import SyntheticResident, generate
from ektp_sync.testing import FAST_RETRY

from .faults import Crasher, NetworkChaos, crash_schedule
from .packets import PacketWatch, check_packets, plant_packets
from .verify import Evidence, check_all

OFFICE = "6172"
API = "/api/v1"
#: quick retries (production: 1 s … 300 s), and a short connect timeout so an outage is
#: noticed quickly
CHAOS_ENV = {**FAST_RETRY, "EKTP_CONNECT_TIMEOUT": "3"}
UNSETTLED = ("queued", "uploading", "awaiting_decision")
MAX_POST_TRIES = 20


class SoakFailed(RuntimeError):
    """The soak could not finish (deadline, unexpected answer); the report so far is attached."""

    def __init__(self, message: str, report: SoakReport) -> None:
        super().__init__(f"{message}\n{report.summary()}")
        self.report = report


@dataclass(frozen=True)
class SoakConfig:
    seed: int = 1
    records: int = 2000
    profile: str = "4g"  # the link under the faults
    office_kills: int = 3
    centre_restarts: int = 1
    centre_workers: int = 1
    post_concurrency: int = 8
    batch_size: int = 50
    timeout: float = 900.0
    #: heavy records: a photo of this many bytes for every `heavy_every`-th resident (0: none)
    attachment_bytes: int = 0
    heavy_every: int = 2


PACKET_GUARANTEE = "6 approvals only for whole, verified packets"


@dataclass
class SoakReport:
    seed: int
    records: int
    backend: str
    recorded: int = 0
    reposts: int = 0  # POSTs sent again because the first was cut off and not stored
    adopted: int = 0  # POSTs cut off whose record had been stored after all
    post_failures: dict[str, int] = field(default_factory=dict)  # what cut POSTs off
    office_kills: int = 0
    centre_restarts: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    upload_attempts: int = 0
    max_backlog: int = 0
    #: per phase: seconds from its last 201 until every record of it was decided
    seconds_to_drain: list[float] = field(default_factory=list)
    seconds_total: float = 0.0
    crash_log: list[str] = field(default_factory=list)
    violations: dict[str, list[str]] = field(default_factory=dict)
    centre_stats: dict[str, Any] = field(default_factory=dict)
    heavy: int = 0  # residents recorded with a photo sent as a tus upload
    approvals_watched: int = 0  # heavy approvals whose packet was checked as they appeared

    @property
    def retries(self) -> int:
        """Upload attempts beyond the first of each record."""
        return max(0, self.upload_attempts - self.recorded)

    @property
    def ok(self) -> bool:
        return self.recorded == self.records and not any(self.violations.values())

    def summary(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())) or "none"
        lines = [
            f"chaos soak seed {self.seed} on {self.backend}: {self.records} records, "
            f"{self.recorded} recorded ({self.reposts} re-posted, {self.adopted} found stored "
            f"after a cut-off POST; failures {self.post_failures})",
            f"office SIGKILLs {self.office_kills}, centre restarts {self.centre_restarts}, "
            f"network faults: {faults}",
            f"upload attempts {self.upload_attempts} (retries {self.retries}), max backlog "
            f"{self.max_backlog}, drain after the last post of each phase "
            f"{' / '.join(f'{s:.1f}s' for s in self.seconds_to_drain)}, "
            f"total {self.seconds_total:.1f}s",
            f"heavy residents {self.heavy}, their approvals checked live {self.approvals_watched}",
            *(f"  {line}" for line in self.crash_log),
        ]
        for name, problems in self.violations.items():
            verdict = "held" if not problems else f"VIOLATED ({len(problems)})"
            lines.append(f"guarantee {name}: {verdict}")
            lines += [f"    {p}" for p in problems[:20]]
        return "\n".join(lines)


class _Office:
    """The workload's side of the office node: posting through crashes, watching progress."""

    def __init__(self, d: Deployment, crasher_events: Crasher, report: SoakReport) -> None:
        self.http = httpx.AsyncClient(
            base_url=d.local_url(OFFICE) + API,
            headers=d.operator_headers(),
            timeout=30,
            verify=d.verify,
        )
        self.crasher = crasher_events
        self.report = report
        self.ids: dict[int, str] = {}
        self.decided = 0
        #: a crash or fault task that died: the run cannot be trusted to go on
        self.background_failure: BaseException | None = None

    def watch(self, task: asyncio.Task[None]) -> None:
        def record(done: asyncio.Task[None]) -> None:
            if not done.cancelled() and done.exception() is not None:
                self.background_failure = done.exception()

        task.add_done_callback(record)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def post_all(self, residents: list[SyntheticResident], concurrency: int) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(resident: SyntheticResident) -> None:
            async with gate:
                await self._post(resident)

        await asyncio.gather(*(one(r) for r in residents))

    async def _post(self, resident: SyntheticResident) -> None:
        for _ in range(MAX_POST_TRIES):
            try:
                response: httpx.Response | None = await self.http.post(
                    "/records", json=resident.record
                )
            except httpx.TransportError as exc:
                response = None  # the office died under the request
                self._failed(type(exc).__name__)
            if response is not None and response.status_code == 201:
                self._took(resident, str(response.json()["id"]))
                return
            if response is not None and response.status_code not in (409, 500, 503):
                raise SoakFailed(
                    f"resident {resident.index}: HTTP {response.status_code} {response.text}",
                    self.report,
                )
            if response is not None:
                self._failed(f"HTTP {response.status_code}")
            # 409 (NIK in flight) after a cut-off try means that try was stored; only the
            # restarted office can say what it stored, so wait for it, then look
            stored = await self._stored_after_restart(resident.record["nik"])
            if stored is not None:
                self.report.adopted += 1
                self._took(resident, stored)
                return
            self.report.reposts += 1
        raise SoakFailed(
            f"resident {resident.index}: no 201 in {MAX_POST_TRIES} tries", self.report
        )

    def _failed(self, why: str) -> None:
        self.report.post_failures[why] = self.report.post_failures.get(why, 0) + 1

    def _took(self, resident: SyntheticResident, record_id: str) -> None:
        self.ids[resident.index] = record_id
        self.report.recorded += 1

    async def _stored_after_restart(self, nik: str) -> str | None:
        for _ in range(MAX_POST_TRIES):
            await self.crasher.office_up.wait()
            try:
                return await self._stored_unclaimed(nik)
            except httpx.HTTPError:
                continue  # killed again while we looked
        raise SoakFailed(f"could not list the office's records to find NIK {nik}", self.report)

    async def _stored_unclaimed(self, nik: str) -> str | None:
        """A record with this NIK that no 201 answered yet (the one a crash cut off)."""
        claimed = set(self.ids.values())
        found = [i for i, r in (await self.all_records()).items() if r["nik"] == nik]
        unclaimed = [i for i in found if i not in claimed]
        return unclaimed[0] if unclaimed else None

    async def all_records(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = (await self.http.get("/records", params=params)).raise_for_status().json()
            found.update((r["id"], r) for r in page["records"])
            cursor = page.get("next_cursor")
            if not cursor or not page["records"]:
                return found

    async def counts(self) -> dict[str, int]:
        status = (await self.http.get("/status")).raise_for_status().json()
        self.report.max_backlog = max(self.report.max_backlog, int(status["pending"]))
        counts: dict[str, int] = status["counts"]
        self.decided = sum(n for s, n in counts.items() if s not in UNSETTLED)
        return counts

    async def progress(self) -> int:
        """Records posted plus records decided: what the crash schedule is measured in."""
        await self.counts()
        return len(self.ids) + self.decided

    async def wait_settled(self, unsettled: tuple[str, ...], deadline: float, what: str) -> None:
        """Until every record taken so far has left the `unsettled` states."""
        while True:
            try:
                counts = await self.counts()
                if sum(counts.values()) >= len(self.ids) and not any(counts[s] for s in unsettled):
                    return
            except httpx.HTTPError:
                pass  # the office is restarting; ask again
            if self.background_failure is not None:
                raise SoakFailed(
                    f"{self.background_failure!r} while waiting for {what}", self.report
                )
            if time.monotonic() > deadline:
                raise SoakFailed(f"deadline passed waiting for {what}", self.report)
            await asyncio.sleep(0.5)


class _Soak:
    def __init__(self, d: Deployment, config: SoakConfig, report: SoakReport) -> None:
        self.d, self.config, self.report = d, config, report
        self.residents = generate(config.records, config.seed, config.attachment_bytes)
        self.packets = plant_packets(self.residents, config.heavy_every)
        report.heavy = len(self.packets)
        rng = random.Random(config.seed)
        schedule = crash_schedule(
            rng, 2 * len(self.residents), config.office_kills, config.centre_restarts
        )
        self.crasher = Crasher(d, schedule, self._progress, office=OFFICE)
        self.chaos = NetworkChaos(d.netsim_api_url, random.Random(rng.random()))
        self.office = _Office(d, self.crasher, report)
        self.admin = httpx.AsyncClient(
            base_url=d.central_url + API,
            headers={"Authorization": f"Bearer {d.admin_key}"},
            timeout=30,
            verify=d.verify,
        )
        self.watch = PacketWatch(
            self.admin, d.office_keys[OFFICE], self.office.http, self.office.ids, self.packets
        )
        self.expected = {
            r.index: (r.expected["status"], r.expected["reason"]) for r in self.residents
        }

    async def _progress(self) -> int:
        return await self.office.progress()

    async def run(self) -> None:
        started = time.monotonic()
        deadline = started + self.config.timeout
        tasks = [
            asyncio.create_task(self.crasher.run(), name="crasher"),
            asyncio.create_task(self.chaos.run(), name="network-chaos"),
            asyncio.create_task(self.watch.run(), name="packet-watch"),
        ]
        for task in tasks:
            self.office.watch(task)
        try:
            for phase in (1, 2):
                batch = [r for r in self.residents if r.phase == phase]
                await self.office.post_all(batch, self.config.post_concurrency)
                last_post = time.monotonic()
                await self.office.wait_settled(UNSETTLED, deadline, f"phase {phase} decisions")
                self.report.seconds_to_drain.append(time.monotonic() - last_post)
            # every crash threshold lies below the progress a settled run reaches
            await asyncio.wait_for(tasks[0], timeout=max(1.0, deadline - time.monotonic()))
            self.chaos.stop()
            await tasks[1]
            await self._adjudicate()
            await self.office.wait_settled((*UNSETTLED, "review"), deadline, "adjudications")
            self.watch.stop()
            await tasks[2]
            await self._verify()
        finally:
            self.chaos.stop()
            self.watch.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.report.seconds_total = time.monotonic() - started
            self.report.office_kills = self.crasher.office_kills
            self.report.centre_restarts = self.crasher.centre_restarts
            self.report.crash_log = self.crasher.log
            self.report.faults = dict(self.chaos.applied)
            await self.office.aclose()
            await self.admin.aclose()

    async def _adjudicate(self) -> None:
        """As the demo does: every other review approved, the rest rejected."""
        records = await self.office.all_records()
        reviews = [r for r in self.residents if r.kind == "possible_duplicate"]
        for k, resident in enumerate(reviews):
            submission = records[self.office.ids[resident.index]]["submission_id"]
            approve = k % 2 == 0
            response = await self.admin.post(
                f"/reviews/{submission}", json={"decision": "approve" if approve else "reject"}
            )
            if response.status_code != 200:
                raise SoakFailed(f"review of {submission}: {response.text}", self.report)
            self.expected[resident.index] = (
                ("approved", "adjudicated") if approve else ("rejected", "duplicate_identity")
            )

    async def _feed(self) -> list[dict[str, Any]]:
        """The office's whole decisions feed, read straight from the centre."""
        key = self.d.office_keys[OFFICE]
        headers = {"Authorization": f"Bearer {key}"}
        feed: list[dict[str, Any]] = []
        cursor = ""
        while True:
            params: dict[str, str | int] = {"after": cursor, "limit": 1000}
            response = await self.admin.get("/decisions", params=params, headers=headers)
            page = response.raise_for_status().json()
            if not page["decisions"]:
                return feed
            feed += page["decisions"]
            cursor = page["next"]

    async def _verify(self) -> None:
        node = await self.office.all_records()
        self.report.upload_attempts = sum(r["attempts"] for r in node.values())
        stats = (await self.admin.get("/stats")).raise_for_status().json()
        self.report.centre_stats = stats
        identities = Counter(self.expected.values())
        evidence = Evidence(
            residents=self.residents,
            expected=self.expected,
            ids=self.office.ids,
            node=node,
            feed=await self._feed(),
            stats=stats,
            expected_identities=identities[("approved", "new_identity")]
            + identities[("approved", "adjudicated")],
        )
        self.report.violations = check_all(evidence)
        if self.packets:
            records = {i: node[record_id] for i, record_id in self.office.ids.items()}
            office_key = self.d.office_keys[OFFICE]
            at_end = await check_packets(
                self.admin, office_key, self.office.http, records, self.packets, stats
            )
            self.report.violations[PACKET_GUARANTEE] = self.watch.problems + at_end
            self.report.approvals_watched = self.watch.checked


async def run_soak(
    config: SoakConfig, base_dir: Path, central_db: str, local_db: str, backend: str
) -> SoakReport:
    """Run one soak on fresh databases; the report says what happened and what held."""
    report = SoakReport(seed=config.seed, records=config.records, backend=backend)
    d = Deployment(
        base_dir,
        offices=(OFFICE,),
        profile=config.profile,
        seed=config.seed,
        central_db=central_db,
        local_dbs={OFFICE: local_db},
        central_workers=config.centre_workers,
        local_extra=["--batch-size", str(config.batch_size)],
        local_env=CHAOS_ENV,
    )
    await d.start()
    try:
        await _Soak(d, config, report).run()
    finally:
        d.stop()
    return report
