"""Benchmark 7: the centre taking heavy packets in as tus uploads, over TLS on loopback.

Records whose attachments are announced in a manifest are taken in; their attachments are then
sent as tus uploads (64 KB chunks, each with its sha256 Upload-Checksum, one connection) and we
time until every approval is in the feed. Each chunk is verified, sealed and committed before
its 204, and the last one of a packet re-reads and hashes the whole attachment and publishes the
held approval in the same transaction: this is the centre's whole cost of a packet. The
reference is the shared WAN link of the heavy-packet benchmark (500 KB/s): a sender waits for
each chunk's 204, so the centre's time per chunk must be small beside the chunk's time on that
link (131 ms for 64 KB). It also counts the protocol's own bytes
(request lines and headers) against the attachments' bytes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from bench.nodedb import distinct_residents
from bench.report import Result
from ektp_sync.launch import Deployment

CHUNK = 64 * 1024
LINK_BYTES_PER_SECOND = 500_000
#: a tenth of the time a chunk takes on the link: what the centre may spend on it
CHUNK_BUDGET_MS = 0.1 * CHUNK / LINK_BYTES_PER_SECOND * 1000
NAMES = ("photo", "finger_r1", "finger_l1", "iris_r", "iris_l", "signature")


def _packet(size: int, rng_seed: int) -> dict[str, bytes]:
    """`size` bytes over the attachments of one recording (a photo gets half)."""
    rest = size // 2 // (len(NAMES) - 1)
    sizes = [size - rest * (len(NAMES) - 1)] + [rest] * (len(NAMES) - 1)
    return {name: os.urandom(n) for name, n in zip(NAMES, sizes, strict=True)}


def _header_bytes(request: httpx.Request) -> int:
    line = len(request.method) + len(request.url.raw_path) + len(" HTTP/1.1\r\n") + 1
    return line + sum(len(k) + len(v) + 4 for k, v in request.headers.raw) + 2


async def _run(workdir: Path, records: int, packet_bytes: int) -> dict[str, Any]:
    d = Deployment(base_dir=workdir)
    d.central.start()
    try:
        await d.central.wait_ready()
        key = d.office_keys[d.offices[0]]
        people = distinct_residents(records, seed=7)
        packets = [_packet(packet_bytes, i) for i in range(records)]
        items = []
        for i, (person, packet) in enumerate(zip(people, packets, strict=True)):
            record = dict(person)
            record["biometrics"] = {
                "template": person["biometrics"]["template"],  # type: ignore[index]
                "manifest": {
                    n: {"size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
                    for n, b in packet.items()
                },
            }
            items.append(
                {
                    "submission_id": f"6172-bench-{i}",
                    "office_code": "6172",
                    "recorded_at": "2026-12-01T00:00:00+00:00",
                    "record": record,
                }
            )
        overhead = 0
        chunk_ms: list[float] = []

        async def count(request: httpx.Request) -> None:
            nonlocal overhead
            overhead += _header_bytes(request)

        async with httpx.AsyncClient(
            base_url=f"{d.central_url}/api/v1",
            headers={"Authorization": f"Bearer {key}", "Tus-Resumable": "1.0.0"},
            verify=d.verify,
            timeout=60,
            event_hooks={"request": [count]},
        ) as client:
            (await client.post("/enrollments", json={"items": items})).raise_for_status()
            started = time.perf_counter()
            for item, packet in zip(items, packets, strict=True):
                for name, content in packet.items():
                    await _upload(client, str(item["submission_id"]), name, content, chunk_ms)
            approved = 0
            while approved < records and time.perf_counter() - started < 300:
                page = (await client.get("/decisions", params={"limit": 1000})).json()
                approved = sum(1 for x in page["decisions"] if x["status"] == "approved")
            seconds = time.perf_counter() - started
    finally:
        d.stop()
    total = records * packet_bytes
    return {
        "records": records,
        "packet_bytes": packet_bytes,
        "approved": approved,
        "seconds": seconds,
        "bytes_per_second": total / seconds,
        "chunk_ms_p50": statistics.median(chunk_ms),
        "chunk_ms_p95": statistics.quantiles(chunk_ms, n=20)[-1],
        "protocol_overhead": overhead / total,
    }


async def _upload(
    client: httpx.AsyncClient, sid: str, name: str, content: bytes, chunk_ms: list[float]
) -> None:
    meta = {"submission_id": sid, "name": name, "sha256": hashlib.sha256(content).hexdigest()}
    encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())
    created = await client.post(
        "/uploads", headers={"Upload-Length": str(len(content)), "Upload-Metadata": encoded}
    )
    url = created.raise_for_status().headers["location"]
    offset = 0
    while offset < len(content):
        chunk = content[offset : offset + CHUNK]
        digest = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
        t = time.perf_counter()
        answer = await client.patch(
            url,
            content=chunk,
            headers={
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": str(offset),
                "Upload-Checksum": f"sha256 {digest}",
            },
        )
        chunk_ms.append((time.perf_counter() - t) * 1000)
        offset = int(answer.raise_for_status().headers["upload-offset"])


def run(workdir: Path, quick: bool) -> Result:
    records = 10 if quick else 60
    packet_bytes = 1_500_000
    run = asyncio.run(_run(workdir, records, packet_bytes))
    result = Result(
        "uploads",
        f"{records} heavy records ({packet_bytes / 1e6:.1f} MB each, 6 attachments) taken in by"
        " the centre as tus uploads in 64 KB chunks, over TLS on loopback (SQLite)",
        target=f"chunk p50 ≤ 10 % of its time on the 500 KB/s link ({CHUNK_BUDGET_MS:.0f} ms)",
    )
    result.add("ingest", run["bytes_per_second"] / 1e6, LINK_BYTES_PER_SECOND / 1e6, "MB/s")
    result.add("chunk round trip p50", run["chunk_ms_p50"], unit="ms")
    result.add("chunk round trip p95", run["chunk_ms_p95"], unit="ms")
    result.add("protocol bytes ÷ attachment bytes", run["protocol_overhead"] * 100, unit="%")
    # judged on what the target names (the chunk's round trip), not on the ingest rate
    result.met = run["approved"] == records and run["chunk_ms_p50"] <= CHUNK_BUDGET_MS
    if run["approved"] < records:
        result.notes.append(f"only {run['approved']}/{records} approved")
    result.details = run
    return result
