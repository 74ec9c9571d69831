"""The `ektp-sync` command line: one module per command, assembled here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="ektp-sync",
    help="e-KTP enrolment sync: office node, central server, network simulator, demo.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # imported here so each command module can import `app`-independent helpers freely
    from ektp_sync.cli import netsim

    for module in (netsim,):
        module.register(app)


def main() -> None:
    _register()
    app()
