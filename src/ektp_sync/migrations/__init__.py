"""Schema migrations (Alembic) of both servers, configured in code: no alembic.ini at run time.

The office node and the centre have separate databases and separate histories, so each has its
own revision files next to its tables (`local_server/store/migrations/`,
`central_server/store/migrations/`) and its own version table (`alembic_version_local`,
`alembic_version_central`), which also lets both live in one PostgreSQL database. They share
this runner, `env.py` and `script.py.mako`. A `Schema` names one history.

`upgrade` is what `ektp-sync central|local migrate` and every server start run. It is safe with
several processes starting at once (see `storage.schema_transaction`), and it handles a database
made by the old `create_all` start-up, which has tables but no version table: if its tables,
columns and indexes are those of the first revision it is stamped with that revision and
upgraded; anything else is refused with the differences, since guessing could lose data.

To write a revision after changing the tables, import the server's app first (so every module
that adds a table to the MetaData is loaded), then autogenerate against a database at head:

    cfg = alembic_config(SCHEMA, sync_connection)  # e.g. inside AsyncConnection.run_sync
    alembic.command.revision(cfg, "what changed", autogenerate=True, rev_id="NNNN")

then read it (Alembic cannot see everything, e.g. a changed index predicate), and name the file
`vNNNN_*.py`. On SQLite, env.py turns on batch mode, which rebuilds a table to alter it;
`storage.schema_transaction` makes that safe for the rows that reference it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.environment import NameFilterParentNames, NameFilterType
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, MetaData, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from ektp_sync.sealing import DataKey
from ektp_sync.storage import schema_transaction

logger = logging.getLogger(__name__)

#: where env.py and script.py.mako live, as an importlib resource (no path separators to quote)
SCRIPT_LOCATION = "ektp_sync:migrations"


class MigrationError(RuntimeError):
    """The database cannot be brought to this version's schema; the message says what to do."""


@dataclass(frozen=True)
class Schema:
    """One server's schema history."""

    name: str  # "central" or "local", for messages
    metadata: MetaData  # the tables as the code uses them: head must produce exactly these
    versions: str  # importlib resource of the revision files, "package:folder"
    version_table: str
    lock_key: int  # PostgreSQL advisory lock serialising upgrades of this schema
    baseline: str  # the revision an old create_all database is at

    def include_name(
        self, name: str | None, type_: NameFilterType, _parents: NameFilterParentNames
    ) -> bool:
        """Autogenerate and compare see only this schema's tables, not a neighbour's in one DB."""
        return type_ != "table" or name in self.metadata.tables


@dataclass(frozen=True)
class Upgrade:
    """What `upgrade` did."""

    before: str | None  # revision found (None: empty database, or a create_all one)
    after: str | None
    stamped: str | None = None  # an old create_all database was recognised as this revision

    def describe(self) -> str:
        if self.stamped is not None:
            moved = f"upgraded to {self.after}" if self.after != self.stamped else "at head"
            return (
                f"found tables made before migrations existed, matching revision "
                f"{self.stamped}: stamped them with it, {moved}"
            )
        if self.before == self.after:
            return f"already at {self.after} (head), nothing to do"
        return f"upgraded {self.before or 'an empty database'} → {self.after}"


def alembic_config(
    schema: Schema, connection: Connection | None = None, data_key: DataKey | None = None
) -> Config:
    """An Alembic Config for `schema`; env.py runs on `connection` (the caller's transaction);
    a revision that seals existing rows finds `data_key` with `revision_data_key()`."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    # "package:folder" holds a colon, so split the (single) location on newlines, never on ":"
    config.set_main_option("path_separator", "newline")
    config.set_main_option("version_locations", schema.versions)
    config.attributes["schema"] = schema
    config.attributes["connection"] = connection
    config.attributes["data_key"] = data_key
    return config


def revision_data_key(rows: int) -> DataKey | None:
    """Inside a revision: the data key the upgrade was given; MigrationError when `rows` rows
    need sealing and none was (an empty database needs no key)."""
    from alembic import context

    key: DataKey | None = context.config.attributes.get("data_key")
    if key is None and rows:
        raise MigrationError(
            f"{rows} rows of personal data must be sealed under the data key, and this "
            "migration was run without one: run it through the server or `migrate` with the "
            "server's --data-dir or --data-key-file"
        )
    return key


def head(schema: Schema) -> str:
    """The newest revision this version of the code knows."""
    current = ScriptDirectory.from_config(alembic_config(schema)).get_current_head()
    assert current is not None, f"{schema.name} has no revisions"
    return current


async def upgrade(
    engine: AsyncEngine,
    schema: Schema,
    revision: str = "head",
    data_key: DataKey | None = None,
) -> Upgrade:
    """Bring the database to `revision` in one transaction, serialised across processes;
    `data_key` seals the personal data of rows written before sealing (revisions that need it
    refuse to run over such rows without it)."""
    async with _one_alembic_run(), schema_transaction(engine, schema.lock_key) as conn:
        done = await conn.run_sync(_upgrade, schema, revision, data_key)
    # a stamped pre-migration database is worth an operator's attention, once
    logger.log(
        logging.WARNING if done.stamped else logging.INFO,
        "%s schema: %s",
        schema.name,
        done.describe(),
    )
    return done


#: one lock per event loop (an asyncio.Lock belongs to the loop that first uses it)
_RUN_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _one_alembic_run() -> asyncio.Lock:
    """Alembic's `op` and `context` are module globals set for the run in progress, so two runs
    interleaved in one thread (two schemas upgraded at once) would send one's DDL down the
    other's connection and deadlock; the database locks alone do not cover different schemas.
    """
    loop = asyncio.get_running_loop()
    lock = _RUN_LOCKS.get(loop)
    if lock is None:
        lock = _RUN_LOCKS[loop] = asyncio.Lock()
    return lock


async def current_revision(engine: AsyncEngine, schema: Schema) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current, schema)


async def schema_diff(engine: AsyncEngine, schema: Schema) -> list[Any]:
    """Alembic's differences between the database and the tables in code ([] when equal)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_diff, schema)


def _current(conn: Connection, schema: Schema) -> str | None:
    context = MigrationContext.configure(conn, opts={"version_table": schema.version_table})
    return context.get_current_revision()


def _diff(conn: Connection, schema: Schema) -> list[Any]:
    context = MigrationContext.configure(
        conn,
        opts={
            "version_table": schema.version_table,
            "include_name": schema.include_name,
            "compare_type": True,
        },
    )
    return list(compare_metadata(context, schema.metadata))


def _upgrade(
    conn: Connection, schema: Schema, revision: str, data_key: DataKey | None = None
) -> Upgrade:
    config = alembic_config(schema, conn, data_key)
    script = ScriptDirectory.from_config(config)
    before = _current(conn, schema)
    if before is not None:
        try:
            script.get_revision(before)
        except CommandError:
            raise MigrationError(
                f"the {schema.name} database is at revision {before!r}, which this version of "
                f"ektp-sync does not know (it knows up to {script.get_current_head()}): a newer "
                "version migrated it. Run that version, or restore a backup made before."
            ) from None
    stamped = None
    if before is None:
        baseline = script.get_revision(schema.baseline)
        assert baseline is not None
        if set(inspect(conn).get_table_names()) & set(baseline.module.TABLES):
            _check_legacy(conn, schema, baseline.module)
            command.stamp(config, schema.baseline)
            stamped = schema.baseline
    command.upgrade(config, revision)
    return Upgrade(before=before, after=_current(conn, schema), stamped=stamped)


def _check_legacy(conn: Connection, schema: Schema, baseline: ModuleType) -> None:
    """Refuse, with the differences, a version-less database that is not the baseline schema.

    The baseline revision module lists its tables' columns (TABLES) and its index names
    (INDEXES): the schema the old create_all start-up made, frozen with the history.
    """
    tables: Mapping[str, Sequence[str]] = baseline.TABLES
    indexes: Sequence[str] = baseline.INDEXES
    inspector = inspect(conn)
    present = set(inspector.get_table_names())
    problems = [f"table {t} missing" for t in sorted(set(tables) - present)]
    found_indexes: set[str] = set()
    for table in sorted(set(tables) & present):
        columns = {c["name"] for c in inspector.get_columns(table)}
        if columns != set(tables[table]):
            problems.append(
                f"table {table} has columns {sorted(columns)}, expected {sorted(tables[table])}"
            )
        found_indexes |= {i["name"] for i in inspector.get_indexes(table) if i["name"]}
    problems += [f"index {i} missing" for i in sorted(set(indexes) - found_indexes)]
    if problems:
        raise MigrationError(
            f"the {schema.name} database has tables but no {schema.version_table} table, and "
            f"they are not those of revision {schema.baseline}: {'; '.join(problems)}. Refusing "
            "to guess; bring the tables to that revision by hand (or start from an empty "
            "database) and run the migrate command again."
        )
