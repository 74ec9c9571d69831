"""`ektp-sync central serve|migrate` and `ektp-sync local serve|migrate`: run the two servers.

`migrate` brings a server's database schema to this version's head; `serve` does the same on
every start, so the command is for upgrading ahead of a start, or checking a database.
"""

from __future__ import annotations

import asyncio
import copy
import os
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ektp_sync.cli.options import DataDir, Db, Host, LogLevel, env
from ektp_sync.config import CentralSettings, LocalSettings, ServerSettings
from ektp_sync.migrations import MigrationError, Schema, Upgrade, upgrade
from ektp_sync.storage import DatabaseUrlError, SchemaIntegrityError, create_engine

OfficeCode = Annotated[
    str,
    typer.Option(
        envvar=env("office_code"),
        help="This office's code (also names the default database, local-<code>.db).",
    ),
]

central_app = typer.Typer(
    help="The central server of Ditjen Dukcapil (mock).", no_args_is_help=True
)
local_app = typer.Typer(help="The office's local node.", no_args_is_help=True)


def _parse_offices(pairs: list[str]) -> dict[str, str]:
    offices: dict[str, str] = {}
    for pair in pairs:
        code, sep, key = pair.partition("=")
        if not sep or not code.isdigit() or len(code) != 4 or not key:
            raise typer.BadParameter(f"{pair!r} is not CODE=KEY with a 4-digit office code")
        offices[code] = key
    return offices


def _serve(settings: ServerSettings, factory: str, port: int, workers: int, log_level: str) -> None:
    # the settings travel as JSON in the environment so every worker process sees the same
    os.environ.update(settings.to_env())
    uvicorn.run(
        factory,
        factory=True,
        host=settings.host,
        port=port,
        workers=workers,
        log_level=log_level,
        log_config=_log_config(log_level),
        timeout_graceful_shutdown=10,
    )


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus our own loggers on the same handler (else INFO is lost)."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["formatters"]["ektp"] = {
        "()": "uvicorn.logging.DefaultFormatter",
        "fmt": "%(levelprefix)s %(name)s: %(message)s",
    }
    config["handlers"]["ektp"] = {**config["handlers"]["default"], "formatter": "ektp"}
    for name in ("ektp_sync", "central_server", "local_server"):
        config["loggers"][name] = {
            "handlers": ["ektp"],
            "level": level.upper(),
            "propagate": False,
        }
    return config


@central_app.command("serve")
def central_serve(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar=env("port"))] = 8600,
    db: Db = None,
    data_dir: DataDir = Path("var"),
    office: Annotated[
        list[str] | None,
        typer.Option(envvar=env("office"), help="CODE=KEY of an office allowed to submit; repeat."),
    ] = None,
    admin_key: Annotated[str | None, typer.Option(envvar=env("admin_key"))] = None,
    signing_key: Annotated[
        Path | None,
        typer.Option(envvar=env("signing_key"), help="Ed25519 PEM (created if missing)."),
    ] = None,
    match_threshold: Annotated[float, typer.Option(envvar=env("match_threshold"))] = 0.85,
    review_threshold: Annotated[float, typer.Option(envvar=env("review_threshold"))] = 0.70,
    max_backlog: Annotated[int, typer.Option(envvar=env("max_backlog"))] = 50_000,
    workers: Annotated[
        int, typer.Option(envvar=env("workers"), help="Processes (PostgreSQL only).", min=1)
    ] = 1,
    log_level: LogLevel = "info",
) -> None:
    """Serve the centre: intake, de-duplication, signed print authorisations, decisions feed."""
    offices = _parse_offices(office or [])
    if not offices:
        typer.echo(
            "error: no office configured; the centre accepts submissions only from known "
            "offices. Pass --office CODE=KEY (repeatable) or set EKTP_OFFICE.",
            err=True,
        )
        raise typer.Exit(2)
    try:
        settings = CentralSettings(
            host=host,
            data_dir=data_dir,
            db_url=db,
            offices=offices,
            admin_key=admin_key,
            signing_key_path=signing_key,
            match_threshold=match_threshold,
            review_threshold=review_threshold,
            max_backlog=max_backlog,
            workers=workers,
        )
    except ValidationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if workers > 1 and settings.database_url.startswith("sqlite"):
        typer.echo("error: --workers above 1 needs PostgreSQL (--db postgresql://…)", err=True)
        raise typer.Exit(2)
    _serve(settings, "central_server.app:app_from_env", port, workers, log_level)


@local_app.command("serve")
def local_serve(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar=env("port"))] = 8700,
    db: Db = None,
    data_dir: DataDir = Path("var"),
    central_url: Annotated[str, typer.Option(envvar=env("central_url"))] = "http://127.0.0.1:8600",
    office_code: OfficeCode = "6172",
    api_key: Annotated[str, typer.Option(envvar=env("api_key"), help="This office's key.")] = "",
    central_public_key: Annotated[
        str | None,
        typer.Option(
            envvar=env("central_public_key"),
            help="Base64 Ed25519 key of the centre; if unset it is pinned from /keys on first "
            "contact.",
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(envvar=env("batch_size"), min=1)] = 500,
    max_in_flight: Annotated[int, typer.Option(envvar=env("max_in_flight"), min=1)] = 4,
    log_level: LogLevel = "info",
) -> None:
    """Serve the office node: records, the durable upload queue, decisions, printing."""
    if not api_key:
        typer.echo("warning: no --api-key; the centre will refuse uploads (401)", err=True)
    try:
        settings = LocalSettings(
            host=host,
            data_dir=data_dir,
            db_url=db,
            central_url=central_url.rstrip("/"),
            office_code=office_code,
            api_key=api_key,
            central_public_key=central_public_key,
            batch_size=batch_size,
            max_in_flight=max_in_flight,
        )
    except ValidationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    _serve(settings, "local_server.app:app_from_env", port, 1, log_level)


@central_app.command("migrate")
def central_migrate(db: Db = None, data_dir: DataDir = Path("var")) -> None:
    """Bring the centre's database schema to this version (every start does it too)."""
    from central_server.tables import SCHEMA  # the centre's package only when it is needed

    _migrate(CentralSettings(data_dir=data_dir, db_url=db).database_url, SCHEMA)


@local_app.command("migrate")
def local_migrate(
    db: Db = None, data_dir: DataDir = Path("var"), office_code: OfficeCode = "6172"
) -> None:
    """Bring the office node's database schema to this version (every start does it too)."""
    from local_server.store.tables import SCHEMA

    settings = LocalSettings(data_dir=data_dir, db_url=db, office_code=office_code)
    _migrate(settings.database_url, SCHEMA)


def _migrate(url: str, schema: Schema) -> None:
    try:
        done = asyncio.run(_upgrade(url, schema))
    except (MigrationError, SchemaIntegrityError, DatabaseUrlError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except (OSError, DBAPIError) as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        typer.echo(f"error: cannot migrate the {schema.name} database {shown}: {exc}", err=True)
        raise typer.Exit(1) from None
    shown = make_url(url).render_as_string(hide_password=True)
    typer.echo(f"{schema.name} database {shown}: {done.describe()}")


async def _upgrade(url: str, schema: Schema) -> Upgrade:
    engine = create_engine(url)
    try:
        return await upgrade(engine, schema)
    finally:
        await engine.dispose()


def register(app: typer.Typer) -> None:
    app.add_typer(central_app, name="central")
    app.add_typer(local_app, name="local")
