"""`ektp-sync status` as a report at 80 columns and as a monitoring check (its exit codes are
also checked against real servers in tests/integration/test_status_exit_codes.py)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import typer
from rich.console import Console

from ektp_sync.cli.status import Health, health, parse_age, render


def ago(**delta: float) -> str:
    """An ISO time `delta` before now (after, with negative values), as the node writes it."""
    return (dt.datetime.now(dt.UTC) - dt.timedelta(**delta)).isoformat()


RECORD_ID = "01a2b3c4d5e6f7a8b9c0d1e2"  # 24 characters, as the node makes them
MASKED = "617201******0001"


def node_status(**changes: Any) -> dict[str, Any]:
    """A /status as a node answers it (every field of the contract and of its additions)."""
    status: dict[str, Any] = {
        "office_code": "6172",
        "counts": {"queued": 120, "uploading": 4, "awaiting_decision": 3, "approved": 1500},
        "pending": 124,
        "oldest_pending_seconds": 5400.0,
        "last_success_at": ago(minutes=3),
        "last_error": None,
        "central": {
            "url": "http://127.0.0.1:8601",
            "reachable": True,
            "breaker": "closed",
            "next_probe_in_seconds": 0.0,
            "last_contact_at": ago(seconds=0),
            "last_error": None,
            "consecutive_failures": 0,
            "in_flight_batches": 1,
        },
        "pending_bytes": 3_400_000,
        "link": {"up": True, "rate_bytes_per_s": 31_000.0, "rtt_ms": 612.0},
        "eta_seconds": 110.3,
        "link_history": [],
        "link_summary": {"days": 7, "outages": 0, "down_seconds": 0.0},
        "needs_action": {"review": 2, "rejected": 1, "failed": 3, "approved_not_printed": 1500},
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(status.get(key), dict):
            status[key] = {**status[key], **value}
        else:
            status[key] = value
    return status


def pending(state: str, attempts: int, **changes: Any) -> dict[str, Any]:
    return {
        "id": RECORD_ID,
        "nik": MASKED,
        "state": state,
        "attempts": attempts,
        "last_error": None,
        "next_attempt_at": None,
        "age": 5400.0,
        "held_back": None,
        **changes,
    }


BREAKER_STORY = (
    "circuit open: the centre failed 12 exchanges in a row (connection refused by centre); one "
    "probe every 2s, next in 1s"
)


def rendered(status: dict[str, Any], uploads: list[dict[str, Any]]) -> list[str]:
    console = Console(record=True, width=80)
    render(console, status, uploads)
    return console.export_text().splitlines()


def test_the_report_fits_80_columns_with_ids_and_niks_whole() -> None:
    down = node_status(
        central={
            "reachable": False,
            "breaker": "open",
            "consecutive_failures": 12,
            "last_error": "connection refused by centre",
            "next_probe_in_seconds": 1.2,
        },
        link={"up": False},
        eta_seconds=None,
        link_history=[
            {
                "start": ago(minutes=7),
                "end": None,
                "seconds": 420.0,
                "cause": "connection refused by centre",
            }
        ],
        link_summary={"outages": 3, "down_seconds": 900.0},
    )
    uploads = [
        pending("uploading", 2),
        *[pending("queued", 3, held_back=BREAKER_STORY) for _ in range(8)],
        pending(
            "queued",
            1,
            last_error="centre answered 500",
            next_attempt_at=ago(minutes=-10),
        ),
    ]
    lines = rendered(down, uploads)
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    rows = [line for line in lines if RECORD_ID in line]
    assert len(rows) == 10 and all(MASKED in row for row in rows)
    text = "\n".join(lines)
    # the breaker is told once, above the list, not on every row
    assert text.count("circuit open") == 1
    assert "12 failed exchanges in a row" in text
    assert "DOWN since" in text and "(7m)" in text
    assert text.count("held: the circuit is open") == 8
    assert "being sent now (try 3)" in text  # in flight, not "waiting for its first try"
    assert "waiting for its first try" not in text
    assert re.search(r"centre answered 500; next try in [89]m", text)
    assert "Waiting to go up: 124 records (3.4 MB), oldest 90m" in text
    assert "no estimate yet: the link is down" in text
    assert "outages in the last 7 days: 3, down 15m" in text


def test_a_healthy_report_shows_bytes_rate_and_eta() -> None:
    lines = rendered(node_status(), [pending("queued", 0)])
    text = "\n".join(lines)
    assert max(len(line) for line in lines) <= 80, text
    assert "all sent in about 110s at the measured 31.0 KB/s" in text
    assert "rate 31.0 KB/s, round trip 612 ms" in text
    assert "Needs action: 2 in review · 1 rejected · 3 failed · 1500 approved" in text
    assert "waiting for its first try" in text


def test_heavy_packets_show_bytes_waiting_and_uploads_in_flight() -> None:
    packets = {
        "files_waiting": 28,
        "records_waiting": 2,
        "bytes_waiting": 2_900_000,
        "in_flight": [
            {"record_id": RECORD_ID, "name": "finger_right_thumb", "size": 150_000, "acked": 60_000}
        ],
    }
    lines = rendered(node_status(packets=packets), [])
    text = "\n".join(lines)
    assert max(len(line) for line in lines) <= 80, text
    assert "Attachments waiting: 28 files of 2 records (2.9 MB to send)" in text
    assert f"{RECORD_ID}  finger_right_thumb" in text
    assert "60.0 KB of 150.0 KB (40%)" in text


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (node_status(), Health.HEALTHY),
        (node_status(oldest_pending_seconds=None, pending=0), Health.HEALTHY),
        (node_status(link={"up": False}), Health.LINK_DOWN),
        (node_status(central={"breaker": "half_open"}), Health.LINK_DOWN),
        # a busy centre's Retry-After opens the breaker without an outage: still worth a look
        (node_status(central={"breaker": "open"}), Health.LINK_DOWN),
        (node_status(oldest_pending_seconds=90_000.0), Health.BACKLOG_OLD),
        # down and old: the link is the cause, so it is what the check says
        (node_status(link={"up": False}, oldest_pending_seconds=90_000.0), Health.LINK_DOWN),
        # a node from before the `link` figure: the centre's reachability decides
        (
            {k: v for k, v in node_status(central={"reachable": False}).items() if k != "link"},
            Health.LINK_DOWN,
        ),
    ],
)
def test_health_is_the_first_problem_that_applies(status: dict[str, Any], expected: Health) -> None:
    assert health(status, warn_age=86400.0) is expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90m", 5400.0), ("24h", 86400.0), ("2d", 172800.0), ("45s", 45.0), ("3600", 3600.0)],
)
def test_warn_age_takes_units(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


def test_a_bad_warn_age_is_refused() -> None:
    with pytest.raises(typer.BadParameter, match="90m, 24h"):
        parse_age("tomorrow")
