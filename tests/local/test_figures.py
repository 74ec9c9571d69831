"""The operator's figures on /status, GET /records/{id} and /metrics, against a stand-in centre
served by real uvicorn: bytes waiting, the measured link, estimates, needs-action counts."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ektp_sync.config import LocalSettings
from ektp_sync.testing import eventually
from local_server.app import create_app
from local_server.figures import bytes_before_accepted
from local_server.store.queue_sql import ITEM_OVERHEAD_BYTES

from .conftest import record, running
from .fake_centre import FakeCentre, free_port, serve
from .residents import resident

Settings = Callable[..., LocalSettings]


async def status(node: httpx.AsyncClient) -> dict[str, Any]:
    answer: dict[str, Any] = (await node.get("/status")).raise_for_status().json()
    return answer


async def detail(node: httpx.AsyncClient, record_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = (await node.get(f"/records/{record_id}")).raise_for_status().json()
    return answer


async def all_in(node: httpx.AsyncClient, ids: list[str], state: str) -> bool:
    return [(await detail(node, i))["state"] for i in ids] == [state] * len(ids)


def stored_bytes(body: dict[str, Any]) -> int:
    """A record's bytes as the node counts them: compact stored JSON plus the item envelope."""
    from ektp_sync.wire import ResidentRecord

    payload = json.dumps(
        ResidentRecord.model_validate(body).model_dump(mode="json"), separators=(",", ":")
    )
    return len(payload.encode()) + ITEM_OVERHEAD_BYTES


async def test_a_held_backlog_shows_its_bytes_places_and_estimates(
    centre: tuple[FakeCentre, str], settings_for: Settings
) -> None:
    fake, url = centre
    async with running(create_app(settings_for(url))) as node:
        # a first record measures the link and the centre's decision time
        first = await record(node, resident(600))

        async def sent_and_approved() -> bool:
            view = await detail(node, first)
            return view["state"] == "approved" and view["sent_at"] is not None

        await eventually(sent_and_approved, timeout=30, interval=0.05)
        measured = await status(node)
        assert measured["pending_bytes"] == 0 and measured["eta_seconds"] == 0.0
        assert measured["link"]["up"] is True
        assert measured["link"]["rate_bytes_per_s"] > 0
        assert measured["link"]["rtt_ms"] > 0
        approved = await detail(node, first)
        assert approved["queue_position"] is None
        assert approved["printable_eta"] == approved["decided_at"] is not None

        fake.hold = asyncio.Event()  # the next upload stays in flight
        bodies = [resident(610 + i) for i in range(5)]
        ids = [await record(node, body) for body in bodies]

        async def travelling() -> dict[str, Any] | None:
            answer = await status(node)
            return answer if answer["central"]["in_flight_batches"] else None

        waiting = await eventually(travelling, timeout=30, interval=0.05)
        assert waiting["pending"] == 5
        assert waiting["pending_bytes"] == sum(stored_bytes(b) for b in bodies)
        rate, rtt = waiting["link"]["rate_bytes_per_s"], waiting["link"]["rtt_ms"] / 1000
        # the travelling upload may have gone up already (the queue keeps it until the answer)
        assert rtt <= waiting["eta_seconds"] <= waiting["pending_bytes"] / rate + rtt

        for k, record_id in enumerate(ids):
            asked = dt.datetime.now(dt.UTC)
            view = await detail(node, record_id)
            answered = dt.datetime.now(dt.UTC)
            assert view["queue_position"] == k + 1
            basis = view["printable_eta_basis"]
            # one upload holds the whole backlog: every record is accepted when it has gone up,
            # less what the travelling upload probably sent already
            assert 0 <= basis["bytes_ahead"] <= waiting["pending_bytes"]
            assert basis["decisions_sampled"] == 1 and basis["decision_seconds"] >= 0
            assert basis["missing"] is None and basis["rate_bytes_per_s"] == rate
            # place × rate, one round trip, the typical decision time: from the moment asked
            ahead = basis["bytes_ahead"] / rate + basis["rtt_ms"] / 1000
            wait = dt.timedelta(seconds=ahead + basis["decision_seconds"])
            eta = dt.datetime.fromisoformat(view["printable_eta"])
            assert asked + wait <= eta <= answered + wait

        fake.hold.set()
        await eventually(lambda: all_in(node, ids, "approved"), timeout=30, interval=0.05)
        done = await status(node)
        assert done["pending_bytes"] == 0 and done["eta_seconds"] == 0.0
        assert done["needs_action"] == {
            "review": 0,
            "rejected": 0,
            "failed": 0,
            "approved_not_printed": 6,
        }
        assert (await detail(node, ids[0]))["queue_position"] is None


async def test_needs_action_counts_what_waits_for_a_person(
    centre: tuple[FakeCentre, str], settings_for: Settings
) -> None:
    fake, url = centre
    review, invalid = resident(621), resident(622)
    fake.review_niks.add(review["nik"])
    fake.invalid_niks.add(invalid["nik"])
    async with running(create_app(settings_for(url))) as node:
        ids = [await record(node, body) for body in (resident(620), review, invalid)]

        async def settled() -> bool:
            states = [(await detail(node, i))["state"] for i in ids]
            return states == ["approved", "review", "failed"]

        await eventually(settled, timeout=30, interval=0.05)
        printed = await node.post(f"/records/{ids[0]}/print")
        assert printed.status_code == 200, printed.text
        assert (await status(node))["needs_action"] == {
            "review": 1,
            "rejected": 0,
            "failed": 1,
            "approved_not_printed": 0,
        }
        in_review, failed = await detail(node, ids[1]), await detail(node, ids[2])
        assert in_review["printable_eta"] is None
        assert in_review["printable_eta_basis"]["missing"] == "in_review"
        assert failed["printable_eta_basis"]["missing"] == "not_printable"


async def test_metrics_agree_with_status(
    centre: tuple[FakeCentre, str], settings_for: Settings
) -> None:
    fake, url = centre
    fake.invalid_niks.add(resident(632)["nik"])
    async with running(create_app(settings_for(url))) as node:
        ids = [await record(node, resident(630 + i)) for i in range(3)]

        async def settled() -> bool:
            states = [(await detail(node, i))["state"] for i in ids]
            return states == ["approved", "approved", "failed"]

        await eventually(settled, timeout=30, interval=0.05)
        fake.hold = asyncio.Event()
        await record(node, resident(640))  # its upload held in flight: pending, with bytes

        async def in_flight() -> bool:
            return bool((await status(node))["central"]["in_flight_batches"] == 1)

        await eventually(in_flight, timeout=30, interval=0.05)
        # /metrics is at the root, beside /healthz (an absolute URL leaves the client's base)
        assert (await node.get("/metrics")).status_code == 404
        scraped = (await node.get("http://node/metrics")).raise_for_status()
        figures = await status(node)
        fake.hold.set()
    assert scraped.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
    by_state = {s.labels["state"]: s.value for s in families["ektp_records"].samples}
    assert by_state == {k: float(v) for k, v in figures["counts"].items()}
    assert families["ektp_upload_pending"].samples[0].value == figures["pending"] == 1
    assert families["ektp_upload_pending_bytes"].samples[0].value == figures["pending_bytes"]
    assert families["ektp_upload_pending_bytes"].samples[0].value == stored_bytes(resident(640))
    assert families["ektp_link_up"].samples[0].value == 1.0
    rate = families["ektp_link_rate_bytes_per_second"].samples[0].value
    assert rate == pytest.approx(figures["link"]["rate_bytes_per_s"])
    oldest = families["ektp_upload_oldest_pending_seconds"].samples[0].value
    assert 0 <= oldest <= figures["oldest_pending_seconds"] + 5
    attempts = families["ektp_upload_attempts"].samples[0]
    assert attempts.name == "ektp_upload_attempts_total" and attempts.value == 4
    failures = {s.labels["kind"]: s.value for s in families["ektp_link_failures"].samples}
    assert set(failures) >= {"unreachable", "busy", "auth", "status"}
    assert sum(failures.values()) == 0
    assert "6172" not in scraped.text  # every NIK here begins with 6172: none is shown


def link_lines(caplog: pytest.LogCaptureFixture, since: int = 0) -> list[str]:
    """What the node logged at INFO and above, after the first `since` records."""
    return [
        f"{r.levelname} {r.name}: {r.getMessage()}"
        for r in caplog.records[since:]
        if r.name.startswith("local_server") and r.levelno >= logging.INFO
    ]


async def test_an_outage_is_logged_once_each_way_and_outlives_a_restart(
    settings_for: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="local_server")
    port = free_port()  # nothing listens yet: the centre is down
    settings = settings_for(f"http://127.0.0.1:{port}", breaker_probe_seconds=0.1)
    app = create_app(settings)
    async with running(app) as node:
        ids = [await record(node, resident(650 + i)) for i in range(3)]
        counts = app.state.worker.link.counts

        def down_logged() -> bool:
            return any("link to centre down since" in line for line in link_lines(caplog))

        await eventually(down_logged, timeout=20, interval=0.02)
        logged = len(caplog.records)
        probes = counts.failures["unreachable"]
        # a probe every 0.1 s: wait for twenty of them, none may add a line
        await eventually(
            lambda: counts.failures["unreachable"] >= probes + 20, timeout=30, interval=0.02
        )
        assert link_lines(caplog, logged) == []
        down = await status(node)
        assert down["link"]["up"] is False and down["eta_seconds"] is None
        outage = down["link_history"][0]
        assert outage["end"] is None and outage["seconds"] > 0
        assert outage["cause"] == "connection refused by centre"
        held = await detail(node, ids[0])
        assert held["queue_position"] == 1 and held["printable_eta"] is None
        assert held["printable_eta_basis"]["missing"] == "link_down"
        # the unreachable centre answers no probe, so DEBUG lines only
        assert any("not delivered" in r.getMessage() for r in caplog.records[logged:])

    # restarted during the outage: it is still open, and the link is not taken for up
    fake = FakeCentre()
    app = create_app(settings)
    async with running(app) as node:
        restarted = await status(node)
        assert restarted["link_history"][0]["start"] == outage["start"]
        assert restarted["link_history"][0]["end"] is None
        async with serve(fake.app(), port=port):
            await eventually(lambda: all_in(node, ids, "approved"), timeout=30, interval=0.05)
            back = await status(node)
    ended = back["link_history"][0]
    assert back["link"]["up"] is True and len(back["link_history"]) == 1
    assert ended["start"] == outage["start"] and ended["end"] is not None
    assert ended["seconds"] >= outage["seconds"]
    assert back["link_summary"]["outages"] == 1
    assert back["link_summary"]["down_seconds"] == pytest.approx(ended["seconds"], abs=0.01)
    outage_lines = [
        line
        for line in link_lines(caplog)
        if "link to centre" in line and ("down since" in line or "back after" in line)
    ]
    # as it began, once more as the restarted node found it open, as it ended
    assert len(outage_lines) == 3, outage_lines
    assert outage_lines[0].startswith("WARNING local_server.sync.outages: link to centre down")
    assert "as the previous run left it" in outage_lines[1]
    assert "back after" in outage_lines[2] and "connection refused by centre" in outage_lines[2]

    async with running(create_app(settings)) as node:  # and kept after the next restart
        assert (await status(node))["link_history"] == back["link_history"]


@pytest.mark.parametrize(
    ("through", "backlog", "upload_bytes", "ahead"),
    [
        (30_000, 1_500_000, 800_000, 800_000),  # the first upload: accepted when it is through
        (800_000, 1_500_000, 800_000, 800_000),  # the upload's last record
        (800_001, 1_500_000, 800_000, 1_500_000),  # the second upload, cut short by the backlog
        (30_000, 20_000_000, 0, 30_000),  # no upload size known: its own bytes
    ],
)
def test_a_record_is_accepted_at_the_end_of_its_upload(
    through: int, backlog: int, upload_bytes: int, ahead: int
) -> None:
    assert bytes_before_accepted(through, backlog, upload_bytes) == ahead
