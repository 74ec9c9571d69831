"""The console's browser tests: Debian's chromium driven by Playwright against real servers.

Chromium comes from apt (`apt-get install chromium`; .ci/run installs it), never downloaded by
Playwright. Without it (or without the playwright package) these tests skip with the reason,
except in CI (CI=true), where they fail: the console must be proved there. The servers run on
TLS with the deployment's throwaway CA, which chromium does not trust: the browser context
ignores HTTPS errors, for loopback only (the TLS itself is tested in tests/integration).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = os.environ.get("EKTP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
#: where the tests write the README's screenshots: `EKTP_SCREENSHOTS=docs/screenshots` refreshes
#: them; otherwise they go to the test's temporary directory (a test run leaves the tree clean)
SCREENSHOTS_ENV = "EKTP_SCREENSHOTS"
#: the width of an old office PC's screen
VIEWPORT = {"width": 1024, "height": 768}


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"chromium not installed ({CHROMIUM}): apt-get install -y chromium"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed: pip install -e '.[dev]'"
    return None


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """The directory the screenshots of this test go to."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    directory = Path(chosen) if chosen else tmp_path / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """A headless Debian chromium (skipped when missing, except in CI)."""
    reason = _missing()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"CI must run the console's browser tests: {reason}")
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield chromium
        finally:
            await chromium.close()
