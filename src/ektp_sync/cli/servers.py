"""`ektp-sync central serve|migrate` and `ektp-sync local serve|migrate`: run the two servers.

Their options are the fields of the servers' settings models (`ektp_sync.config`), made into
flags by `ektp_sync.cli.options`. `migrate` brings a server's database schema to this version's
head; `serve` does the same on every start, so the command is for upgrading ahead of a start, or
checking a database.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import typer
import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ektp_sync import prefork
from ektp_sync.cli.options import Command, Group, settings_command
from ektp_sync.config import (
    CentralSettings,
    CentralStorage,
    Listening,
    LocalSettings,
    LocalStorage,
    Storage,
    is_loopback,
)
from ektp_sync.keyfiles import private_dir, private_file
from ektp_sync.logs import log_config
from ektp_sync.migrations import MigrationError, Schema, Upgrade, upgrade
from ektp_sync.sealing import DataKey
from ektp_sync.slowclients import protocol_factory
from ektp_sync.storage import DatabaseUrlError, SchemaIntegrityError, create_engine, sqlite_files

central_app = typer.Typer(
    cls=Group, help="The central server of Ditjen Dukcapil (mock).", no_args_is_help=True
)
local_app = typer.Typer(cls=Group, help="The office's local node.", no_args_is_help=True)

#: seconds uvicorn gives requests in progress at shutdown
GRACEFUL_SHUTDOWN_SECONDS = 10


def serve_centre(settings: CentralSettings) -> None:
    """Serve the centre: intake, de-duplication, signed print authorisations, decisions feed."""
    _prepare(settings)
    options = _uvicorn_options(settings, settings.port)
    if settings.workers == 1:
        from central_server.app import create_app  # the centre's package only when needed

        uvicorn.run(create_app(settings), **options)
        return
    # several workers, forked from this process once it has imported the app (prefork.py says
    # why); first what they share, so that it exists before they do: their metrics, summed
    # through files (prometheus-client's multiprocess mode), in a directory emptied now
    from central_server.dedup.rows import remove_shared, shared_env
    from central_server.metrics import use_multiprocess_dir

    use_multiprocess_dir(settings.data_dir)
    # and one gallery, in shared memory (central_server/dedup/rows.py), named in the
    # environment the workers inherit
    shared = shared_env()
    os.environ.update(shared)
    try:
        from central_server.app import create_app

        prefork.serve(uvicorn.Config(create_app(settings), **options), settings.workers)
    except prefork.WorkersFailed as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        for name in shared.values():
            remove_shared(name)


def serve_node(settings: LocalSettings) -> None:
    """Serve the office node: records, the durable upload queue, decisions, printing."""
    from local_server.app import create_app  # the node's package only when it is needed

    _prepare(settings)
    if not settings.api_key:
        typer.echo("warning: no --api-key; the centre will refuse uploads (401)", err=True)
    # one process: uvicorn runs the app made here, from these very settings
    uvicorn.run(create_app(settings), **_uvicorn_options(settings, settings.port))


def _prepare(settings: CentralSettings | LocalSettings) -> None:
    """Before anything is created: every file the server makes from here on (databases with
    their -wal and -shm, keys, tokens) is its owner's only, and so is the data dir; files of
    an older version's making are made so too."""
    os.umask(0o077)  # inherited by the --workers processes
    private_dir(settings.data_dir)
    for path in sqlite_files(settings.database_url):
        private_file(path)
    if not settings.tls and not is_loopback(settings.host):
        typer.echo(
            f"warning: serving plain HTTP on {settings.host}: give --tls-cert and --tls-key, "
            "unless a TLS proxy in front of this server does it",
            err=True,
        )


def _uvicorn_options(settings: Listening, port: int) -> dict[str, Any]:
    tls: dict[str, Any] = {}
    if settings.tls:
        tls = {"ssl_certfile": settings.tls_cert, "ssl_keyfile": settings.tls_key}
    return {
        "host": settings.host,
        "port": port,
        "log_level": settings.log_level,
        # uvicorn's loggers and ours on one handler, in the format asked for (ektp_sync.logs)
        "log_config": log_config(settings.log_level, settings.log_format),
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        # slow clients: a deadline on each request's head, an idle deadline on its body, a cap
        # on connections (slowclients)
        "http": protocol_factory(
            settings.header_timeout_seconds, settings.body_idle_seconds, settings.max_connections
        ),
        "timeout_keep_alive": settings.keep_alive_seconds,
        **tls,
    }


def migrate_centre(storage: CentralStorage) -> None:
    """Bring the centre's database schema to this version (every start does it too)."""
    from central_server.store.tables import SCHEMA  # the centre's package only when needed

    _migrate(storage, SCHEMA)


def migrate_node(storage: LocalStorage) -> None:
    """Bring the office node's database schema to this version (every start does it too)."""
    from local_server.store.tables import SCHEMA

    _migrate(storage, SCHEMA)


def _migrate(storage: Storage, schema: Schema) -> None:
    os.umask(0o077)  # a database made here is its owner's only, as one made by `serve`
    url = storage.database_url
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        # rows written before sealing are sealed on the way, under the server's data key
        done = asyncio.run(_upgrade(url, schema, storage.data_key()))
    except (MigrationError, SchemaIntegrityError, DatabaseUrlError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except (OSError, DBAPIError) as exc:
        typer.echo(f"error: cannot migrate the {schema.name} database {shown}: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{schema.name} database {shown}: {done.describe()}")


async def _upgrade(url: str, schema: Schema, key: DataKey) -> Upgrade:
    engine = create_engine(url)
    try:
        return await upgrade(engine, schema, data_key=key)
    finally:
        await engine.dispose()


def _register() -> None:
    # each command calls the function by its module name when it runs, so a test can stand in
    # for it and see the settings a command line makes
    commands: list[tuple[typer.Typer, str, type[Any], Any]] = [
        (central_app, "serve", CentralSettings, serve_centre),
        (central_app, "migrate", CentralStorage, migrate_centre),
        (local_app, "serve", LocalSettings, serve_node),
        (local_app, "migrate", LocalStorage, migrate_node),
    ]
    for group, name, model, run in commands:
        command = settings_command(model, _late(run.__name__), doc=run.__doc__)
        group.command(name, cls=Command)(command)


def _late(name: str) -> Any:
    return lambda settings: globals()[name](settings)


_register()


def register(app: typer.Typer) -> None:
    app.add_typer(central_app, name="central")
    app.add_typer(local_app, name="local")
