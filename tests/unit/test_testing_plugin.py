"""The pytest plugin as another team meets it: light to load, clear when a deployment has no
link, and a failing wait that says what it saw (docs/testing.md runs the examples)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ektp_sync import testing
from ektp_sync.launch import Deployment, NoSimulatedLink
from ektp_sync.testing import ConditionTimeout, InStates, WanLink, eventually


def test_loading_the_plugin_imports_no_client_launcher_or_simulator() -> None:
    """pytest imports the plugin in every run where ektp-sync is installed: what it pulls in is
    paid by every test run, ours or not."""
    probe = (
        "import sys; import pytest; before = set(sys.modules); import ektp_sync.testing; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    heavy = {"httpx", "ektp_sync.launch", "ektp_sync.netsim", "numpy", "sqlalchemy", "rich"}
    assert not heavy & set(loaded), sorted(heavy & set(loaded))


def test_a_deployment_without_a_link_says_so(tmp_path: Path) -> None:
    direct = Deployment(tmp_path / "direct")  # made, not started
    assert direct.netsim is None
    with pytest.raises(NoSimulatedLink, match="link=True"):
        _ = direct.netsim_api_url
    with pytest.raises(NoSimulatedLink):
        WanLink.of(direct)
    clean = Deployment(tmp_path / "clean", link=True)
    assert clean.netsim is not None and "--profile" not in clean.netsim.args
    assert clean.netsim_api_url.startswith("http://127.0.0.1:")
    assert clean.local_url() != clean.central_url


def test_all_in_is_a_bool_that_shows_the_states() -> None:
    assert InStates(frozenset({"approved", "review"}), Counter({"approved": 2, "review": 1}))
    waiting = InStates(frozenset({"approved"}), Counter({"approved": 2, "queued": 3}))
    assert not waiting
    assert repr(waiting) == (
        "records by state {'approved': 2, 'queued': 3}, wanted all in ['approved']"
    )


async def test_a_failing_wait_reports_the_last_answer_and_the_servers_logs(
    tmp_path: Path,
) -> None:
    deployment = Deployment(tmp_path, link=True)  # its logs written here by hand
    for number, process in enumerate(deployment.processes):
        process.log_path.parent.mkdir(parents=True, exist_ok=True)
        lines = [f"{process.name} line {i}" for i in range(40)]
        process.log_path.write_text("\n".join([*lines, f"the last words of #{number}"]) + "\n")
    testing._running.append(deployment)
    try:
        with pytest.raises(ConditionTimeout) as failed:
            await eventually(
                lambda: InStates(frozenset({"approved"}), Counter({"queued": 2})),
                timeout=0.1,
                interval=0.02,
                message="approved",
            )
    finally:
        testing._running.remove(deployment)
    report = str(failed.value)
    assert report.startswith("not true within 0.1s: approved\n")
    assert "last answer: records by state {'queued': 2}, wanted all in ['approved']" in report
    for number, process in enumerate(deployment.processes):
        assert f"--- {process.name}: last lines of {process.log_path} ---" in report
        assert f"the last words of #{number}" in report
        assert f"{process.name} line 20" not in report  # a tail, not the whole log
