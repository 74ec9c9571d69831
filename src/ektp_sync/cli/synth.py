"""`ektp-sync synth`: synthetic Singkawang residents as JSON lines, with the planted truth."""

from __future__ import annotations

import json
import os
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

        `record` is the body of POST /api/v1/records (e.g. `| jq -c .record`);
        `expected` is the centre's planted decision for it.

        Phase 1 (the first four fifths; half under --count 8) are distinct people,
        each approved as new_identity. Phase 2 are planted duplicates of phase-1 people: the same
        person recorded again (reissue), a stranger under their NIK (nik_conflict),
        the same person under a new NIK (duplicate_identity), a look-alike (review).

        Record phase 2 only after phase 1 is decided: until then the node refuses a
        NIK whose first record is still on its way (409 nik_in_flight), and the
        centre decides in arrival order.
        """
        out = sys.stdout
        try:
            for resident in generate(count, seed, attachment_bytes):
                out.write(json.dumps(resident.as_json(), separators=(",", ":")) + "\n")
            out.flush()
        except BrokenPipeError:
            # the reader had enough (`| head -1`): not an error. Python would flush stdout
            # again at exit and fail on the closed pipe, so stdout goes nowhere from here
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
