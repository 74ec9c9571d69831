"""The command line's own rules (the servers it starts are tested in tests/integration)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ektp_sync.cli import app
from ektp_sync.wire import ResidentRecord

runner = CliRunner()


def test_central_refuses_to_start_without_an_office(tmp_path) -> None:
    result = runner.invoke(app, ["central", "serve", "--data-dir", str(tmp_path)], env={})
    assert result.exit_code == 2
    assert "no office configured" in result.output


def test_central_rejects_malformed_office_and_sqlite_workers(tmp_path) -> None:
    result = runner.invoke(app, ["central", "serve", "--office", "61=abc"])
    assert result.exit_code == 2 and "CODE=KEY" in result.output
    result = runner.invoke(
        app,
        ["central", "serve", "--office", "6172=k", "--workers", "2", "--data-dir", str(tmp_path)],
    )
    assert result.exit_code == 2 and "PostgreSQL" in result.output


def test_synth_prints_valid_json_lines_and_reads_env() -> None:
    result = runner.invoke(app, ["synth", "--seed", "3"], env={"EKTP_COUNT": "12"})
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert len(lines) == 12
    for line in lines:
        ResidentRecord.model_validate(line["record"])
        assert set(line["expected"]) == {"status", "reason"}
    again = runner.invoke(app, ["synth", "--seed", "3", "--count", "12"])
    assert again.output == result.output


def test_status_says_clearly_when_the_node_is_unreachable() -> None:
    result = runner.invoke(app, ["status", "--local-url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "cannot read the local node" in result.output


def test_synth_into_a_closed_pipe_ends_quietly() -> None:
    """`ektp-sync synth | head -1`: the reader leaving early is not an error."""
    import subprocess
    import sys

    synth = subprocess.Popen(
        [sys.executable, "-m", "ektp_sync", "synth", "--count", "5000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert synth.stdout is not None and synth.stderr is not None
    first = synth.stdout.readline()
    synth.stdout.close()  # what `head -1` does after its line
    errors = synth.stderr.read()
    assert synth.wait(timeout=60) == 0, errors
    assert json.loads(first)["phase"] == 1 and errors == b""


def test_synth_help_explains_the_phases() -> None:
    result = runner.invoke(app, ["synth", "--help"], env={"COLUMNS": "80"})
    assert "nik_in_flight" in result.output and "Phase 2" in result.output
