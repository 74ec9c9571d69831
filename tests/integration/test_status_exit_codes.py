"""`ektp-sync status` as a monitoring check against real servers: each exit code, at 80 columns."""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import Result
from typer.testing import CliRunner

from ektp_sync.cli import app
from ektp_sync.domain.operators import Role
from ektp_sync.launch import Deployment
from ektp_sync.synth import generate
from ektp_sync.testing import FAST_RETRY, CentreAdmin, DeploymentFactory, OfficeClient, eventually

pytestmark = pytest.mark.integration

runner = CliRunner()


async def status(d: Deployment, *args: str, token: str | None = "") -> Result:
    """The command as a monitoring system runs it, in an 80-column terminal, trusting the
    deployment's CA as an operator's machine would, with a clerk's token in EKTP_TOKEN (or
    `token`; None: none)."""
    assert d.tls_files is not None
    command = ["status", "--local-url", d.local_url(), "--ca", str(d.tls_files.ca), *args]
    env = {"COLUMNS": "80", "EKTP_TOKEN": d.operator_token(Role.CLERK)}
    if token is None:
        env["EKTP_TOKEN"] = ""
    elif token:
        env["EKTP_TOKEN"] = token
    return await asyncio.to_thread(runner.invoke, app, command, env=env)


def narrow(result: Result) -> bool:
    return max(len(line) for line in result.stdout.splitlines()) <= 80


async def test_each_exit_code_of_the_status_check(ektp_deployment: DeploymentFactory) -> None:
    d = await ektp_deployment(local_env=FAST_RETRY)
    healthy = await status(d)
    assert healthy.exit_code == 0, healthy.output
    assert narrow(healthy) and "Centre https://127.0.0.1:" in healthy.stdout
    # the node needs an operator's token: none (and no token file in --data-dir) is refused
    refused = await status(d, "--data-dir", str(d.base_dir / "nowhere"), token=None)
    assert refused.exit_code == 1 and "refused the request (401" in refused.stderr
    assert (await status(d, "--token", d.operator_token())).exit_code == 0

    body = generate(1, seed=5)[0].record
    async with OfficeClient.of(d) as office, CentreAdmin.of(d) as admin:
        # a slow centre: the upload is in flight for seconds, the link is up, the record waits
        await admin.faults(latency_ms=5000)
        record_id = await office.record(body)

        async def in_flight() -> bool:
            return (await office.get(record_id))["state"] == "uploading"

        await eventually(in_flight, timeout=30)
        old = await status(d, "--warn-age", "0s")
        assert old.exit_code == 3, old.output
        assert "older than --warn-age" in old.stderr
        assert narrow(old) and record_id in old.stdout and "being sent now (try 1)" in old.stdout
        assert (await status(d, "--warn-age", "24h")).exit_code == 0
        await admin.faults(latency_ms=0)
        await eventually(lambda: office.all_in([record_id], {"approved"}), timeout=60)

        d.central.stop()

        async def link_down() -> bool:
            return (await office.status())["link"]["up"] is False

        await eventually(link_down, timeout=60, message="outage declared")
    down = await status(d, "--json")
    assert down.exit_code == 2, down.output
    assert json.loads(down.stdout)["status"]["link"]["up"] is False
    assert "link to the centre is down" in down.stderr
    report = await status(d)
    assert report.exit_code == 2 and narrow(report)
    assert "DOWN since" in report.stdout and report.stdout.count("circuit open") <= 1

    d.locals[d.offices[0]].stop()
    gone = await status(d)
    assert gone.exit_code == 1 and "cannot read the local node" in gone.stderr

    usage = await status(d, "--warn-age", "soon")
    assert usage.exit_code == 2 and "90m, 24h" in usage.output
