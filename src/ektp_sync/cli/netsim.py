"""`ektp-sync netsim` (placeholder until the network simulator lands)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("netsim")
    def netsim() -> None:
        """The network simulator (not built yet)."""
        raise typer.Exit(1)
