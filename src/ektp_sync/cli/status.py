"""`ektp-sync status`: the operator's view of what is still waiting to go up, and why; and a
monitoring check whose exit code says what is wrong.

Exit codes (the first that applies): 0 healthy, 1 the node cannot be read, 2 the link to the
centre is down or its circuit breaker is open, 3 the oldest record waiting to go up is older
than `--warn-age`. Laid out for an 80-column terminal: ids and masked NIKs are never cut.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
import ssl
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from ektp_sync.cli.options import DEFAULT_DATA_DIR, Command, DataDir, LocalUrl, env
from ektp_sync.domain.operators import OPERATOR_TOKEN_FILE
from ektp_sync.domain.states import RecordState

S = RecordState

DEFAULT_WARN_AGE = "24h"
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class Health(enum.IntEnum):
    HEALTHY = 0
    NODE_UNREACHABLE = 1
    LINK_DOWN = 2
    BACKLOG_OLD = 3


def parse_age(text: str) -> float:
    """`90m`, `24h`, `2d`, `45s` or plain seconds → seconds."""
    match = _AGE.match(text)
    if match is None:
        raise typer.BadParameter(f"{text!r} is not an age such as 90m, 24h, 2d or 3600")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _checked_age(text: str) -> str:
    parse_age(text)  # a usage error (exit 2, as for every bad option) before anything is read
    return text


def health(status: dict[str, Any], warn_age: float) -> Health:
    """What a monitoring check should say about a node's /status (it was read: not 1)."""
    central = status.get("central") or {}
    link = status.get("link") or {}
    if link.get("up") is False or central.get("breaker", "closed") != "closed":
        return Health.LINK_DOWN
    if "link" not in status and central.get("reachable") is False:  # a node before `link`
        return Health.LINK_DOWN
    oldest = status.get("oldest_pending_seconds")
    if oldest is not None and oldest > warn_age:
        return Health.BACKLOG_OLD
    return Health.HEALTHY


_VERDICTS = {
    Health.LINK_DOWN: "the link to the centre is down or its circuit breaker is open",
    Health.BACKLOG_OLD: "the oldest record waiting to go up is older than --warn-age",
}


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600:02d}h"


def _size(n: float | None) -> str:
    """Bytes as people read them (KB = 1000 bytes, as the link profiles count)."""
    if n is None:
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def _clock(value: str | None) -> str:
    """An ISO time from the node as this machine's local time of day (date if not today)."""
    if not value:
        return "never"
    moment = dt.datetime.fromisoformat(value).astimezone()
    if moment.date() == dt.datetime.now().astimezone().date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M")


def _next_try(value: str | None) -> str:
    if not value:
        return "-"
    delta = (dt.datetime.fromisoformat(value) - dt.datetime.now(dt.UTC)).total_seconds()
    return f"in {_ago(delta)}" if delta > 0 else "due now"


def _why(item: dict[str, Any]) -> str:
    """Why a record is still here, in a few words (the breaker's long story is told once)."""
    if item["state"] == S.UPLOADING:
        return f"being sent now (try {item['attempts'] + 1})"
    if item.get("held_back"):
        return "held: the circuit is open (see the centre above)"
    if item.get("last_error"):
        return f"{item['last_error']}; next try {_next_try(item.get('next_attempt_at'))}"
    return "waiting for its first try"


def _backlog_line(status: dict[str, Any]) -> str:
    pending, link = status["pending"], status.get("link") or {}
    line = (
        f"Waiting to go up: {pending} records ({_size(status.get('pending_bytes'))}), "
        f"oldest {_ago(status['oldest_pending_seconds'])}"
    )
    eta, rate = status.get("eta_seconds"), link.get("rate_bytes_per_s")
    if pending and eta is not None and rate:
        line += f"\n  all sent in about {_ago(eta)} at the measured {_size(rate)}/s"
    elif pending:
        line += "\n  no estimate yet: the link is down or its rate not measured yet"
    return line


def _packet_lines(status: dict[str, Any]) -> list[str]:
    """Heavy packets: attachment bytes waiting, and the uploads in flight with their progress."""
    packets = status.get("packets") or {}
    if not packets.get("files_waiting") and not packets.get("in_flight"):
        return []
    lines = [
        f"Attachments waiting: {packets['files_waiting']} files of "
        f"{packets['records_waiting']} records ({_size(packets['bytes_waiting'])} to send)"
    ]
    for upload in packets.get("in_flight", [])[:5]:
        share = upload["acked"] / upload["size"] if upload["size"] else 1.0
        lines.append(
            f"  {upload['record_id']}  {escape(upload['name'][:20]):<20}  "
            f"{_size(upload['acked'])} of {_size(upload['size'])} ({share:.0%})"
        )
    return lines


def _link_lines(status: dict[str, Any]) -> list[str]:
    central, link = status.get("central") or {}, status.get("link") or {}
    up = link.get("up", central.get("reachable"))
    state = {True: "[green]up[/]", False: "[red]DOWN[/]", None: "not contacted yet"}[up]
    history = status.get("link_history") or []
    if up is False and history and history[0].get("end") is None:
        state += f" since {_clock(history[0]['start'])} ({_ago(history[0]['seconds'])})"
    lines = [f"Centre {escape(str(central.get('url', '?')))}: {state}"]
    if central.get("breaker", "closed") != "closed":
        lines.append(
            f"  circuit {central['breaker'].replace('_', '-')}: "
            f"{central.get('consecutive_failures', 0)} failed exchanges in a row; next probe in "
            f"{_ago(central.get('next_probe_in_seconds'))}"
        )
    if central.get("last_error"):
        error = escape(central["last_error"])
        # the error is kept after the link recovers; shown as current it would alarm for nothing
        if central.get("consecutive_failures"):
            lines.append(f"  last link error: [yellow]{error}[/]")
        else:
            lines.append(f"  earlier link error (recovered since): [dim]{error}[/]")
    rate, rtt = link.get("rate_bytes_per_s"), link.get("rtt_ms")
    lines.append(
        f"  rate {'not measured yet' if rate is None else f'{_size(rate)}/s'}, round trip "
        f"{'-' if rtt is None else f'{rtt:.0f} ms'}, uploads in flight "
        f"{central.get('in_flight_batches', 0)}"
    )
    last = f"  last success {_clock(status.get('last_success_at'))}"
    summary = status.get("link_summary")
    if summary:
        last += (
            f"; outages in the last {summary['days']} days: {summary['outages']}, "
            f"down {_ago(summary['down_seconds'])}"
        )
    lines.append(last)
    return lines


#: the counts per state on two lines that fit 80 columns: still travelling, then the rest
_COUNT_LINES = (
    ("Records: ", (S.QUEUED, S.UPLOADING, S.AWAITING_DECISION, S.REVIEW)),
    ("         ", (S.APPROVED, S.PRINTED, S.REJECTED, S.FAILED)),
)


def render(console: Console, status: dict[str, Any], pending: list[dict[str, Any]]) -> None:
    counts = status["counts"]
    console.print(f"[bold]Office {status['office_code']}[/]")
    for label, states in _COUNT_LINES:
        console.print(label + " · ".join(f"{s.value} {counts.get(s.value, 0)}" for s in states))
    needs = status.get("needs_action")
    if needs:
        console.print(
            f"Needs action: {needs['review']} in review · {needs['rejected']} rejected · "
            f"{needs['failed']} failed · {needs['approved_not_printed']} approved, not printed"
        )
    console.print(_backlog_line(status))
    for line in _packet_lines(status):
        console.print(line)
    for line in _link_lines(status):
        console.print(line)
    if not pending:
        return
    console.print()
    console.print(f"[bold]Oldest waiting[/] ({len(pending)} of {status['pending']})")
    console.print(f"  {'id':<24}  {'NIK':<16}  {'state':<9}  {'tries':>5}  {'age':>6}", style="dim")
    for item in pending:
        console.print(
            f"  {item['id']:<24}  {item['nik']:<16}  {item['state']:<9}  "
            f"{item['attempts']:>5}  {_ago(item.get('age')):>6}",
            highlight=False,
        )
        console.print(f"      {escape(_why(item))}", style="dim", highlight=False)


def operator_token(token: str | None, data_dir: Path) -> str | None:
    """The token to send: the one given, else the node's own in `<data-dir>/operator-token`."""
    if token:
        return token
    try:
        return (data_dir / OPERATOR_TOKEN_FILE).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _refused_message(response: httpx.Response, url: str) -> str:
    what = "no valid operator token" if response.status_code == 401 else "too small a role"
    return (
        f"error: the local node at {url} refused the request ({response.status_code}, {what}): "
        "give an operator's token with --token (or EKTP_TOKEN), or --data-dir of the node "
        f"whose {OPERATOR_TOKEN_FILE} to use"
    )


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
                help="Records waiting to go up to list, oldest first.",
            ),
        ] = 10,
        warn_age: Annotated[
            str,
            typer.Option(
                envvar=env("warn_age"),
                metavar="AGE",
                callback=_checked_age,
                help="Exit 3 when the oldest record waiting to go up is older than this "
                "(90m, 24h, 2d or seconds).",
            ),
        ] = DEFAULT_WARN_AGE,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the raw JSON instead of the report.")
        ] = False,
        ca: Annotated[
            Path | None,
            typer.Option(
                envvar=env("ca"),
                metavar="FILE",
                help="CA certificate (PEM) of an https:// node; default: the system's CAs.",
            ),
        ] = None,
        token: Annotated[
            str | None,
            typer.Option(
                envvar=env("token"),
                metavar="TOKEN",
                help="An operator's token; default: the node's own in <data-dir>/operator-token.",
            ),
        ] = None,
        data_dir: DataDir = DEFAULT_DATA_DIR,
    ) -> None:
        """Counts per state, what waits to go up and why, link health; the exit code says
        what is wrong: 0 healthy, 1 node unreachable, 2 link down or breaker open, 3 the oldest
        waiting record is older than --warn-age."""
        warn_seconds = parse_age(warn_age)
        base = local_url.rstrip("/") + "/api/v1"
        try:
            verify = ssl.create_default_context(cafile=ca) if ca else True
        except OSError as exc:
            typer.echo(f"error: cannot read --ca {ca}: {exc}", err=True)
            raise typer.Exit(2) from None
        try:
            bearer = operator_token(token, data_dir)
            headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
            with httpx.Client(timeout=10, verify=verify, headers=headers) as client:
                answer = client.get(f"{base}/status")
                if answer.status_code in (401, 403):
                    typer.echo(_refused_message(answer, local_url), err=True)
                    raise typer.Exit(Health.NODE_UNREACHABLE)
                node = answer.raise_for_status().json()
                pending = client.get(f"{base}/uploads/pending", params={"limit": limit})
                uploads = pending.raise_for_status().json()["uploads"]
        except httpx.HTTPError as exc:
            hint = "; give the node's CA with --ca" if "CERTIFICATE_VERIFY" in str(exc) else ""
            typer.echo(f"error: cannot read the local node at {local_url}: {exc}{hint}", err=True)
            raise typer.Exit(Health.NODE_UNREACHABLE) from None
        if as_json:
            typer.echo(json.dumps({"status": node, "pending": uploads}, indent=2))
        else:
            render(Console(), node, uploads)
        verdict = health(node, warn_seconds)
        if verdict is not Health.HEALTHY:
            typer.echo(f"status {int(verdict)}: {_VERDICTS[verdict]}", err=True)
        raise typer.Exit(verdict)
