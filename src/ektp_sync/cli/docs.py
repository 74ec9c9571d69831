"""`ektp-sync docs`: where the project's own docs are (they ship inside the package), or one of
them, so a user of an installed package has the interface at hand without the repository."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from ektp_sync import __version__
from ektp_sync.cli.options import Command


class Page(enum.StrEnum):
    """The pages of docs/ (tests/docs checks this against the directory)."""

    INTERFACE = "interface"
    OPERATORS = "operators"
    CONSOLE = "console"
    TESTING = "testing"
    ARCHITECTURE = "architecture"
    GUARANTEES = "guarantees"
    NETSIM = "netsim"
    PERFORMANCE = "performance"
    SECURITY = "security"
    PACKETS = "packets"


def docs_dir() -> Path:
    """`ektp_sync/docs` in an installed wheel; the repository's `docs/` in a checkout (an
    editable install), which is where the wheel's copy is made from."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "docs"
    return installed if installed.is_dir() else package.parents[1] / "docs"


def pages(directory: Path) -> dict[str, Path]:
    return {path.stem: path for path in sorted(directory.glob("*.md"))}


def _title(page: Path) -> str:
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return ""


def register(app: typer.Typer) -> None:
    @app.command("docs", cls=Command)
    def docs(
        page: Annotated[
            Page | None,
            typer.Argument(
                show_default=False,
                help="The page to print (interface: the record, states, API, metrics).",
            ),
        ] = None,
    ) -> None:
        """Where the docs are (record schema, template format, states, API, metrics: the
        interface page); with a page's name, print that page."""
        directory = docs_dir()
        if page is None:
            typer.echo(f"ektp-sync {__version__}: docs in {directory}")
            for stem, path in pages(directory).items():
                typer.echo(f"  {stem:<14} {_title(path)}")
            return
        typer.echo((directory / f"{page.value}.md").read_text(encoding="utf-8"), nl=False)
