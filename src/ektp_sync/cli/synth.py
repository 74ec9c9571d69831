"""`ektp-sync synth`: synthetic Singkawang residents as JSON lines, with the planted truth."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ektp_sync.cli.options import Command, env
from ektp_sync.synth import generate


def register(app: typer.Typer) -> None:
    @app.command("synth", cls=Command)
    def synth(
        count: Annotated[
            int,
            typer.Option(envvar=env("count"), min=0, metavar="N", help="Residents to print."),
        ] = 100,
        seed: Annotated[
            int,
            typer.Option(
                envvar=env("seed"), metavar="N", help="Seed: the same seed, the same residents."
            ),
        ] = 0,
        attachment_bytes: Annotated[
            int,
            typer.Option(
                envvar=env("attachment_bytes"),
                min=0,
                metavar="BYTES",
                help="Photo size per record.",
            ),
        ] = 0,
    ) -> None:
        """Print residents, one JSON object a line: {"record", "expected", "kind", "phase", …}.

        `record` is the body for POST /api/v1/records (e.g. `| jq -c .record`); `expected` is the
        centre's planted decision. Phase-2 lines are duplicates of phase-1 people: record them
        after phase 1 is decided.
        """
        out = sys.stdout
        for resident in generate(count, seed, attachment_bytes):
            out.write(json.dumps(resident.as_json(), separators=(",", ":")) + "\n")
