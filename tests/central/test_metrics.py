"""The centre's /metrics, parsed with prometheus-client's own parser and checked against /stats
(the 2-worker PostgreSQL centre is in tests/integration/test_metrics_workers.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from ektp_sync.testing import eventually

from . import factories as f
from .conftest import Centre


def samples(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """sample name → {sorted labels → value}."""
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            found.setdefault(sample.name, {})[labels] = sample.value
    return found


def root_of(centre: Centre) -> httpx.AsyncClient:
    """A client of the centre's root, where /metrics is (its office clients start at /api/v1)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=centre.app), base_url="http://centre"
    )


def decisions_by_status(scraped: dict[str, Any]) -> dict[str, float]:
    by_status: dict[str, float] = {}
    for labels, value in scraped["ektp_decisions_total"].items():
        status = dict(labels)["status"]
        by_status[status] = by_status.get(status, 0.0) + value
    return by_status


async def test_metrics_count_intake_and_decisions_as_stats_does(centre: Centre) -> None:
    rng = np.random.default_rng(31)
    original = f.unit(rng)
    twin = f.item(f.record(f.near(original, 0.97, rng)))  # same person, a NIK of its own
    first = f.item(f.record(original))
    async with centre.office() as office, centre.admin() as admin, root_of(centre) as root:
        await office.post("/enrollments", json=f.batch(first, f.item(f.record(f.unit(rng)))))

        async def decided() -> bool:
            return "pending" not in (await admin.get("/stats")).json()["by_status"]

        await eventually(decided)
        invalid = f.item(f.record(f.unit(rng), "0000"))
        await office.post("/enrollments", json=f.batch(twin, invalid, first))  # first: repeat
        await eventually(decided)
        stats = (await admin.get("/stats")).json()
        response = (await root.get("/metrics")).raise_for_status()
        assert (await root.get("/api/v1/metrics")).status_code == 404  # at the root only
    assert response.headers["content-type"].startswith("text/plain")
    scraped = samples(response.text)
    intake = {dict(k)["result"]: v for k, v in scraped["ektp_enrollments_total"].items()}
    assert intake == {"accepted": 3, "invalid": 1, "repeat": 1}
    assert intake["accepted"] + intake["invalid"] == stats["enrollments"] == 4
    by_status = decisions_by_status(scraped)
    assert by_status == {k: v for k, v in stats["by_status"].items() if k != "invalid"}
    assert by_status == {"approved": 2, "rejected": 1}
    reasons = {dict(k)["reason"]: v for k, v in scraped["ektp_decisions_total"].items()}
    assert reasons == stats["by_reason"] == {"new_identity": 2, "duplicate_identity": 1}
    assert scraped["ektp_identities"][()] == stats["identities"] == 2
    assert scraped["ektp_dedup_pending"][()] == 0
    batches = scraped["ektp_dedup_seconds_count"][()]
    assert batches >= 2 and scraped["ektp_dedup_seconds_sum"][()] > 0
    assert scraped["ektp_dedup_seconds_bucket"][(("le", "+Inf"),)] == batches
    assert "6172" not in response.text  # office codes begin every NIK here: none is shown


async def test_an_adjudication_counts_as_a_decision(centre: Centre) -> None:
    rng = np.random.default_rng(32)
    original = f.unit(rng)
    async with centre.office() as office, centre.admin() as admin, root_of(centre) as root:
        await office.post("/enrollments", json=f.batch(f.item(f.record(original))))
        look_alike = f.item(f.record(f.near(original, 0.77, rng)))
        await office.post("/enrollments", json=f.batch(look_alike))

        async def in_review() -> bool:
            return (await admin.get("/stats")).json()["by_status"].get("review") == 1

        await eventually(in_review)
        reviewed = await admin.post(
            f"/reviews/{look_alike['submission_id']}", json={"decision": "approve"}
        )
        assert reviewed.status_code == 200, reviewed.text
        scraped = samples((await root.get("/metrics")).text)
    decisions = {
        (dict(k)["status"], dict(k)["reason"]): v
        for k, v in scraped["ektp_decisions_total"].items()
    }
    assert decisions == {
        ("approved", "new_identity"): 1,
        ("review", "possible_duplicate"): 1,
        ("approved", "adjudicated"): 1,
    }


def test_a_worker_starts_or_scrapes_while_another_is_creating_its_metric_files(
    tmp_path: Path,
) -> None:
    """`serve --workers N` forks its workers at one moment, and forks a new one when a worker
    dies: one builds its metrics, or answers a scrape, while another has created its values
    file and not yet sized it (0 bytes). The scrape sums the others and leaves that one out
    (it holds nothing yet) instead of failing with a 500. In a process of its own, as
    multiprocess mode is a process-wide choice."""
    script = (
        "import sys; from pathlib import Path\n"
        "from central_server.metrics import CentreMetrics, use_multiprocess_dir\n"
        "use_multiprocess_dir(Path(sys.argv[1]))\n"
        "(Path(sys.argv[1]) / 'prometheus' / 'counter_1.db').touch()  # the other worker's\n"
        "metrics = CentreMetrics()\n"
        "assert metrics.multiprocess\n"
        "metrics.took_in(['accepted'])\n"
        "text = metrics.render(identities=3, pending=0).decode()\n"
        "assert 'ektp_enrollments_total{result=\"accepted\"} 1.0' in text, text\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
