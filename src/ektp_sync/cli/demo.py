"""`ektp-sync demo`: the whole path end to end, checked against the planted truth."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ektp_sync.cli.options import DEFAULT_DATA_DIR, Command, DataDir, env
from ektp_sync.demo import DemoFailed, render, run_demo
from ektp_sync.launch import ProcessFailed
from ektp_sync.netsim import PROFILES

#: a realistic packet: a photo, ten fingerprints, two irises and a signature, compressed
DEFAULT_ATTACHMENT_BYTES = 300_000


async def _main(
    records: int,
    profile: str | None,
    seed: int,
    data_dir: Path,
    timeout: float,
    console: Console,
    attachment_bytes: int,
) -> bool:
    # SIGTERM must unwind like Ctrl-C does, so the finally blocks stop every child
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    report = await run_demo(
        records, profile, seed, data_dir, timeout, console, attachment_bytes=attachment_bytes
    )
    render(console, report)
    return report.ok


def register(app: typer.Typer) -> None:
    @app.command("demo", cls=Command)
    def demo(
        records: Annotated[
            int,
            typer.Option(
                envvar=env("records"), min=1, metavar="N", help="Synthetic residents to record."
            ),
        ] = 100,
        profile: Annotated[
            str,
            typer.Option(
                envvar=env("profile"),
                metavar="NAME",
                help=f"Link profile between office and centre: {', '.join(PROFILES)}; "
                "'none' for no simulator.",
            ),
        ] = "vsat-clear",
        seed: Annotated[
            int,
            typer.Option(
                envvar=env("seed"), metavar="N", help="Seed of the residents and of the link."
            ),
        ] = 1,
        data_dir: DataDir = DEFAULT_DATA_DIR,
        timeout: Annotated[
            float,
            typer.Option(
                envvar=env("timeout"),
                metavar="SECONDS",
                help="Give up (exit 1) when the run takes longer than this.",
            ),
        ] = 1800,
        attachment_bytes: Annotated[
            int,
            typer.Option(
                envvar=env("attachment_bytes"),
                min=0,
                max=2 * 1024 * 1024,
                metavar="N",
                help="Bytes of attachments per resident (sent as resumable uploads after the "
                "record's core); 0 for none.",
            ),
        ] = DEFAULT_ATTACHMENT_BYTES,
    ) -> None:
        """Start centre, network simulator and office node (SQLite); record N synthetic residents
        with planted duplicates; exit 0 only if every decision matches the planted truth."""
        if profile != "none" and profile not in PROFILES:
            raise typer.BadParameter(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
        console = Console()
        try:
            ok = asyncio.run(
                _main(
                    records,
                    None if profile == "none" else profile,
                    seed,
                    data_dir,
                    timeout,
                    console,
                    attachment_bytes,
                )
            )
        except (KeyboardInterrupt, asyncio.CancelledError):
            console.print("interrupted; every process stopped")
            raise typer.Exit(130) from None
        except (ProcessFailed, DemoFailed) as exc:
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from None
        raise typer.Exit(0 if ok else 1)
