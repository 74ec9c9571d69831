"""The `ektp-sync` command line: one module per command, assembled here.

Every option can also be set by an environment variable `EKTP_<OPTION>` (contract).
"""

from __future__ import annotations

import typer

from ektp_sync.cli.options import Group

app = typer.Typer(
    cls=Group,
    name="ektp-sync",
    help="e-KTP enrolment sync: office node, central server, network simulator, demo.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from ektp_sync.cli import certs, demo, docs, netsim, servers, status, synth

    for module in (servers, netsim, demo, status, synth, certs, docs):
        module.register(app)


_register()


def main() -> None:
    app()
