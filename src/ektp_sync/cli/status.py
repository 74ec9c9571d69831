"""`ektp-sync status`: the operator's view of what is still waiting to go up, and why."""

from __future__ import annotations

import datetime as dt
import json
import ssl
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from ektp_sync.cli.options import Command, LocalUrl, env
from ektp_sync.domain.states import RecordState


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def _when(value: str | None) -> str:
    if not value:
        return "-"
    moment = dt.datetime.fromisoformat(value)
    delta = (moment - dt.datetime.now(dt.UTC)).total_seconds()
    return f"in {_ago(delta)}" if delta > 0 else "due now"


def render(console: Console, status: dict[str, Any], pending: list[dict[str, Any]]) -> None:
    counts = Table(title=f"Office {status['office_code']}: records by state")
    counts.add_column("state")
    counts.add_column("records", justify="right")
    for state in RecordState:
        counts.add_row(state.value, str(status["counts"].get(state.value, 0)))
    console.print(counts)

    link = status.get("central") or {}
    reachable = {True: "[green]reachable[/]", False: "[red]unreachable[/]", None: "unknown"}[
        link.get("reachable")
    ]
    console.print(
        f"Centre {link.get('url', '?')}: {reachable}, breaker {link.get('breaker', '?')}, "
        f"{link.get('consecutive_failures', 0)} failures in a row, "
        f"{link.get('in_flight_batches', 0)} batches in flight; "
        f"last contact {link.get('last_contact_at') or 'never'}"
    )
    if link.get("last_error"):
        # the error is kept after the link recovers; shown as current it would alarm for nothing
        if link.get("consecutive_failures"):
            console.print(f"  last link error: [yellow]{link['last_error']}[/]")
        else:
            console.print(f"  earlier link error (recovered since): [dim]{link['last_error']}[/]")
    console.print(
        f"Pending uploads: {status['pending']}, oldest {_ago(status['oldest_pending_seconds'])}; "
        f"last success {status.get('last_success_at') or 'never'}"
    )

    table = Table(title="Oldest pending uploads")
    for column in ("id", "NIK", "state", "attempts", "next try", "age", "why still here"):
        table.add_column(column)
    for item in pending:
        table.add_row(
            item["id"],
            item["nik"],
            item["state"],
            str(item["attempts"]),
            _when(item.get("next_attempt_at")),
            _ago(item.get("age")),
            item.get("held_back") or item.get("last_error") or "waiting for its first try",
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    @app.command("status", cls=Command)
    def status(
        local_url: LocalUrl = "http://127.0.0.1:8700",
        limit: Annotated[
            int,
            typer.Option(
                envvar=env("limit"),
                min=1,
                max=1000,
                metavar="N",
                help="Pending uploads to list, oldest first.",
            ),
        ] = 10,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the raw JSON instead of tables.")
        ] = False,
        ca: Annotated[
            Path | None,
            typer.Option(
                envvar=env("ca"),
                metavar="FILE",
                help="CA certificate (PEM) of an https:// node; default: the system's CAs.",
            ),
        ] = None,
    ) -> None:
        """Counts per state, oldest pending uploads with attempts and last error, link health."""
        base = local_url.rstrip("/") + "/api/v1"
        try:
            verify = ssl.create_default_context(cafile=ca) if ca else True
        except OSError as exc:
            typer.echo(f"error: cannot read --ca {ca}: {exc}", err=True)
            raise typer.Exit(2) from None
        try:
            with httpx.Client(timeout=10, verify=verify) as client:
                node = client.get(f"{base}/status").raise_for_status().json()
                pending = client.get(f"{base}/uploads/pending", params={"limit": limit})
                uploads = pending.raise_for_status().json()["uploads"]
        except httpx.HTTPError as exc:
            hint = "; give the node's CA with --ca" if "CERTIFICATE_VERIFY" in str(exc) else ""
            typer.echo(f"error: cannot read the local node at {local_url}: {exc}{hint}", err=True)
            raise typer.Exit(1) from None
        if as_json:
            typer.echo(json.dumps({"status": node, "pending": uploads}, indent=2))
            return
        render(Console(), node, uploads)
