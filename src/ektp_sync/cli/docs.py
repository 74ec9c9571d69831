"""`ektp-sync docs`: where the project's own docs are (they ship inside the package), or one of
them, so a user of an installed package has the interface at hand without the repository."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ektp_sync import __version__
from ektp_sync.cli.options import Command


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
        name: Annotated[
            str | None,
            typer.Argument(metavar="[NAME]", help="A page to print, e.g. interface."),
        ] = None,
    ) -> None:
        """Where the docs are (record schema, template format, states, API, metrics: the
        interface page); with a NAME, print that page."""
        directory = docs_dir()
        found = pages(directory)
        if name is None:
            typer.echo(f"ektp-sync {__version__}: docs in {directory}")
            for stem, page in found.items():
                typer.echo(f"  {stem:<14} {_title(page)}")
            return
        page = found.get(name.removesuffix(".md"))
        if page is None:
            typer.echo(f"error: no page {name!r}; there are: {', '.join(found)}", err=True)
            raise typer.Exit(2)
        typer.echo(page.read_text(encoding="utf-8"), nl=False)
