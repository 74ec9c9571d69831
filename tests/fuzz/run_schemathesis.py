"""Fuzz both real servers with schemathesis (`--checks all`), as CI does after the test suite.

    .venv/bin/python tests/fuzz/run_schemathesis.py [--max-examples N] [--max-time SECONDS]

A deployment (centre and one office node, TLS on, certificates made now) is started with
`ektp_sync.launch.Deployment`; schemathesis reads each server's own /openapi.json and verifies
it with the deployment's CA (`--tls-verify`). Three runs: the node, the centre as an office
(its key), and the centre's admin routes (the admin key) last, since fuzzing /admin/faults may
switch faults on. Each run is bounded in examples per operation and in wall time. Exit status:
0 when no check failed in any run. Not a pytest file on purpose: it is one bounded CI step.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ektp_sync.launch import Deployment

ADMIN_PATHS = r"^/api/v1/(stats|reviews/|admin/)"
#: POST /enrollments answers 200 for a batch whose items may each be `invalid` and, by the
#: contract, not stored: such an item is no created resource that GET /enrollments/{id} must
#: then find ("created resource not found"). The check stays on for the node and the admin run.
INTAKE_IS_NOT_CREATION = ["--exclude-checks", "ensure_resource_availability"]
CONFIG = Path(__file__).with_name("schemathesis.toml")


def node_headers(d: Deployment) -> dict[str, str]:
    """Extra headers every request to the office node carries: a supervisor's bearer token, so
    every route (printing included) is reached; schemathesis's `ignored_auth` check also tries
    each secured route without it."""
    return d.operator_headers()


@dataclass
class Run:
    name: str
    base_url: str
    headers: dict[str, str]
    filters: list[str]
    seconds: float


def runs(d: Deployment, budget: float) -> list[Run]:
    # Tus-Resumable on every request, as every tus client sends it (its absence is tus's 412)
    office = {"Authorization": f"Bearer {d.office_keys[d.offices[0]]}", "Tus-Resumable": "1.0.0"}
    admin = {"Authorization": f"Bearer {d.admin_key}"}
    return [
        Run("office node", d.local_url(), node_headers(d), [], budget * 0.45),
        Run(
            "centre (office key)",
            d.central_url,
            office,
            ["--exclude-path-regex", ADMIN_PATHS, *INTAKE_IS_NOT_CREATION],
            budget * 0.35,
        ),
        Run(
            "centre (admin key)",
            d.central_url,
            admin,
            ["--include-path-regex", ADMIN_PATHS],
            budget * 0.2,
        ),
    ]


def schemathesis(run: Run, d: Deployment, max_examples: int, seed: int) -> int:
    """One schemathesis run, in the deployment's scratch dir (its cache lands there)."""
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{run.base_url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(max_examples),
        "--max-time",
        str(int(run.seconds)),
        "--seed",
        str(seed),
        "--request-timeout",
        "30",
        "--output-truncate",
        "true",
        *run.filters,
    ]
    if d.tls_files is not None:
        command += ["--tls-verify", str(d.tls_files.ca)]
    for name, value in run.headers.items():
        command += ["--header", f"{name}: {value}"]
    shown = [part if "Bearer" not in part else "Authorization: Bearer ***" for part in command]
    print(f"\n=== {run.name}: {' '.join(shown)}", flush=True)
    started = time.monotonic()
    code = subprocess.run(command, check=False, cwd=d.base_dir).returncode
    print(f"=== {run.name}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
    return code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=100, help="per operation and phase")
    parser.add_argument("--max-time", type=float, default=165.0, help="seconds, all runs")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="ektp-fuzz-"))
    d = Deployment(base)
    started = time.monotonic()
    failed: list[str] = []
    try:
        asyncio.run(d.start())
        for run in runs(d, args.max_time):
            if schemathesis(run, d, args.max_examples, args.seed) != 0:
                failed.append(run.name)
        for process in d.processes:
            if not process.running:
                failed.append(f"{process.name} exited during the fuzzing")
    finally:
        d.stop()
    print(f"\nfuzzing: {time.monotonic() - started:.0f} s in all; failed: {failed or 'none'}")
    if failed:
        print(f"server logs kept in {base / 'logs'}")
    else:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
