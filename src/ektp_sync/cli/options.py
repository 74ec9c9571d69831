"""Option definitions shared by several commands, so each has one name and one env var."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def env(name: str) -> str:
    return f"EKTP_{name.upper().replace('-', '_')}"


Host = Annotated[str, typer.Option("--host", envvar=env("host"), help="Address to listen on.")]
DataDir = Annotated[
    Path, typer.Option("--data-dir", envvar=env("data_dir"), help="Where databases and keys live.")
]
Db = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar=[env("db"), env("db_url")],
        help="sqlite:///path/file.db or postgresql://user@host:port/db (default: SQLite in the "
        "data dir).",
    ),
]
LogLevel = Annotated[str, typer.Option("--log-level", envvar=env("log_level"))]
LocalUrl = Annotated[
    str,
    typer.Option("--local-url", envvar=env("local_url"), help="Base URL of the office's node."),
]
