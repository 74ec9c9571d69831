"""`ektp-sync demo --attachment-bytes N`: residents with packets, end to end, still decided as
planted (rejected duplicates' uploads cancelled, approvals only over whole packets)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from ektp_sync.demo import run_demo

pytestmark = pytest.mark.integration


async def test_demo_with_attachments_matches_the_planted_truth(tmp_path: Path) -> None:
    console = Console(record=True, width=100)
    report = await run_demo(
        8, "fiber", 3, tmp_path, timeout=240, console=console, attachment_bytes=120_000
    )
    assert report.ok, console.export_text()
    assert report.recorded == 8
    assert report.printed >= 1
