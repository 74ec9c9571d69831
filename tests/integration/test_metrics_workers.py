"""/metrics of real servers: a `--workers 2` centre on PostgreSQL sums what both processes
counted (prometheus-client's multiprocess mode), and the office node's agree with its /status.
Each scrape is parsed with prometheus-client's own parser and checked against /stats."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ektp_sync.launch import Deployment
from ektp_sync.synth import generate
from ektp_sync.testing import FAST_RETRY, CentreAdmin, DeploymentFactory, OfficeClient, eventually

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.parametrize("db_factory", ["postgresql"], indirect=True),
]


def scrape(url: str, d: Deployment) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """One scrape on a connection of its own (so another worker may answer it)."""
    text = httpx.get(f"{url}/metrics", timeout=10, verify=d.verify).raise_for_status().text
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def by_label(series: dict[tuple[tuple[str, str], ...], float], label: str) -> dict[str, float]:
    summed: dict[str, float] = {}
    for labels, value in series.items():
        key = dict(labels)[label]
        summed[key] = summed.get(key, 0.0) + value
    return summed


def counting_workers(d: Deployment) -> set[str]:
    """Processes that wrote a counter into the deployment's multiprocess directory."""
    directory = Path(d.base_dir) / "central" / "prometheus"
    return {p.stem.rpartition("_")[2] for p in directory.glob("counter_*.db")}


async def test_two_worker_centre_and_node_metrics_agree_with_the_api(
    ektp_deployment: DeploymentFactory, db_factory: Callable[[], Awaitable[str]]
) -> None:
    d = await ektp_deployment(
        central_db=await db_factory(), central_workers=2, local_env=FAST_RETRY
    )
    people = [r.record for r in generate(80, seed=41) if r.phase == 1]
    office_key = d.office_keys[d.offices[0]]
    sent = 0
    # one item per request, each on a new connection, until both processes have counted some
    while len(counting_workers(d)) < 2 and sent < len(people) - 10:
        item = {
            "submission_id": f"6172-metrics-{sent}",
            "office_code": d.offices[0],
            "recorded_at": "2026-12-01T00:00:00+00:00",
            "record": people[sent],
        }
        async with httpx.AsyncClient(
            base_url=d.central_url,
            headers={"Authorization": f"Bearer {office_key}"},
            verify=d.verify,
        ) as centre:
            answer = await centre.post("/api/v1/enrollments", json={"items": [item]})
            assert answer.json()["results"][0]["status"] == "accepted", answer.text
        sent += 1
    assert len(counting_workers(d)) == 2, f"one process took all {sent} requests"

    async with OfficeClient.of(d) as office, CentreAdmin.of(d) as admin:
        ids = [await office.record(body) for body in people[sent : sent + 10]]
        await eventually(lambda: office.all_in(ids, {"approved"}), timeout=120)

        async def decided() -> dict[str, Any] | None:
            stats = await admin.stats()
            return stats if "pending" not in stats["by_status"] else None

        stats: dict[str, Any] = await eventually(decided, timeout=60)
        node_status = await office.status()
        node = scrape(d.local_url(), d)
        scrapes = [scrape(d.central_url, d) for _ in range(6)]

    assert stats["enrollments"] == sent + 10 == stats["identities"]
    for centre in scrapes:  # whichever process answered, the sums of both
        assert by_label(centre["ektp_enrollments_total"], "result") == {"accepted": sent + 10}
        assert by_label(centre["ektp_decisions_total"], "status") == stats["by_status"]
        assert by_label(centre["ektp_decisions_total"], "reason") == stats["by_reason"]
        assert centre["ektp_identities"][()] == stats["identities"]
        batches = centre["ektp_dedup_seconds_count"][()]
        assert 1 <= batches <= sent + 10
        assert centre["ektp_dedup_seconds_bucket"][(("le", "+Inf"),)] == batches

    assert by_label(node["ektp_records"], "state") == node_status["counts"]
    assert node["ektp_records"][(("state", "approved"),)] == 10
    assert node["ektp_upload_pending"][()] == node_status["pending"] == 0
    assert node["ektp_upload_pending_bytes"][()] == node_status["pending_bytes"] == 0
    assert node["ektp_link_up"][()] == 1
    assert node["ektp_upload_attempts_total"][()] >= 10
    assert node["ektp_link_rate_bytes_per_second"][()] == pytest.approx(
        node_status["link"]["rate_bytes_per_s"]
    )
