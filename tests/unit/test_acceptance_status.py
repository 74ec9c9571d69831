"""Regressions found by the outside acceptance check: a recovered link is not shown as failing."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from ektp_sync.cli.status import render
from ektp_sync.demo import link_note

RECOVERED = {
    "url": "http://centre",
    "reachable": True,
    "breaker": "closed",
    "consecutive_failures": 0,
    "last_error": "connection refused by centre",
}
FAILING = {**RECOVERED, "reachable": False, "consecutive_failures": 3}


def _status(link: dict[str, Any]) -> dict[str, Any]:
    return {
        "office_code": "6172",
        "counts": {},
        "pending": 0,
        "oldest_pending_seconds": None,
        "last_success_at": None,
        "central": link,
    }


def _rendered(link: dict[str, Any]) -> str:
    console = Console(record=True, width=200)
    render(console, _status(link), [])
    return console.export_text()


def test_status_shows_an_error_from_before_the_recovery_as_such() -> None:
    assert "earlier link error (recovered since): connection refused" in _rendered(RECOVERED)
    assert "\n  last link error: connection refused" in _rendered(FAILING)


def test_demo_progress_shows_the_link_error_only_while_it_is_current() -> None:
    assert link_note(RECOVERED) == "link up"
    assert link_note(FAILING) == "link down: connection refused by centre"
    assert link_note({"reachable": None}) == "link not contacted yet"
