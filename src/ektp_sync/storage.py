"""Database engines for both servers: the one place where SQLite and PostgreSQL differ.

SQLite runs in WAL mode with `synchronous=FULL`: a committed transaction is on disk before the
commit returns, so a 201 survives a crash of the process *and* of the machine (power loss), at
the price of one fsync per commit (the hot paths batch their commits). Every SQLite transaction
starts with `BEGIN IMMEDIATE` so two writers queue on the busy timeout instead of failing with
"database is locked" on a read-to-write upgrade; one process uses a single connection, so its
tasks queue in asyncio instead of busy-waiting inside SQLite — and, for the node's group commit,
one blocking connection configured alike (`sqlite_writer_engine`) that a writer thread uses for
a whole transaction at a time.

Bulk statements bind a batch of ids as one value (`IdList`): a JSON array on SQLite, an array
on PostgreSQL. `INSERT … ON CONFLICT DO NOTHING` is spelt in each dialect's own construct
(`insert_ignoring_conflicts`), and `advisory_xact_lock` serialises a transaction across
processes on PostgreSQL, where SQLite's single writer (`BEGIN IMMEDIATE`) already does.
Schema changes (`schema_transaction`) differ too: PostgreSQL serialises them across processes
with an advisory lock; SQLite needs none but must switch foreign keys off while Alembic's batch
mode rebuilds tables.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    String,
    Table,
    Text,
    any_,
    bindparam,
    event,
    func,
    select,
)
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool
from sqlalchemy.types import TypeDecorator

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_WAL_CHECKPOINT_PAGES = 10_000


class DatabaseUrlError(ValueError):
    pass


def async_url(url: str) -> str:
    """Map the contract's plain URLs to the async drivers the project uses."""
    for plain, driver in (
        ("sqlite:", "sqlite+aiosqlite:"),
        ("postgresql:", "postgresql+asyncpg:"),
        ("postgres:", "postgresql+asyncpg:"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    if url.startswith(("sqlite+aiosqlite:", "postgresql+asyncpg:")):
        return url
    raise DatabaseUrlError(
        f"unsupported database URL {url!r}: use sqlite:///path/file.db or "
        "postgresql://user@host:port/db"
    )


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def is_sqlite(engine: AsyncEngine | AsyncConnection) -> bool:
    return engine.dialect.name == "sqlite"


def insert_ignoring_conflicts(conn: AsyncConnection, table: Table, key: str) -> Any:
    """INSERT … ON CONFLICT (key) DO NOTHING, in the connection's dialect."""
    dialect_insert = sqlite.insert if is_sqlite(conn) else postgresql.insert
    return dialect_insert(table).on_conflict_do_nothing(index_elements=[key])


async def advisory_xact_lock(conn: AsyncConnection, key: int) -> None:
    """Held until the transaction ends; SQLite needs none (one writer, BEGIN IMMEDIATE)."""
    if not is_sqlite(conn):
        await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({int(key)})")


def sqlite_files(url: str) -> list[Path]:
    """The files of an SQLite database URL (the database, its -wal and -shm); none for another
    database or an in-memory one."""
    db_path = url.split("///", 1)[-1] if url.startswith("sqlite") else ""
    if not db_path or db_path == ":memory:":
        return []
    return [Path(db_path + suffix) for suffix in ("", "-wal", "-shm")]


def create_engine(url: str) -> AsyncEngine:
    full = async_url(url)
    # an error never shows the statement's values: they are records of people, and errors
    # end up in logs
    private = {"hide_parameters": True}
    if full.startswith("sqlite"):
        for path in sqlite_files(url)[:1]:
            path.parent.mkdir(parents=True, exist_ok=True)
            # made here with mode 0600 (whatever the umask) before SQLite opens it: SQLite gives
            # the -wal and -shm files it creates the database file's mode
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        engine = create_async_engine(
            full,
            poolclass=AsyncAdaptedQueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=600,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **private,
        )
        _configure_sqlite(engine.sync_engine)
        return engine
    return create_async_engine(full, pool_size=10, max_overflow=10, pool_pre_ping=True, **private)


def sqlite_writer_engine(engine: AsyncEngine) -> Engine:
    """A blocking engine on the same SQLite file, configured the same way (WAL, FULL, BEGIN
    IMMEDIATE), with one connection: for a writer thread that runs a whole transaction in one
    hand-off, where aiosqlite hands every statement to its thread and back."""
    if not is_sqlite(engine):
        raise DatabaseUrlError(f"not an SQLite engine: {engine.url.drivername}")
    writer = sa_create_engine(
        engine.url.set(drivername="sqlite"),
        poolclass=QueuePool,
        pool_size=1,
        max_overflow=0,
        # the writer thread connects; the event loop's thread disposes of it at close
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        hide_parameters=True,
    )
    _configure_sqlite(writer)
    return writer


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # take transaction control from the driver so BEGIN IMMEDIATE below is ours
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        # checkpoint every ~40 MB of WAL instead of ~4 MB: a queue rewrites the same pages over
        # and over, and fewer checkpoints copy each of them back fewer times (-14 % disk writes
        # on the queue benchmark); durability is the same, the WAL file is just larger
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_CHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # on the driver's cursor: through exec_driver_sql (execution context, events, result)
        # it cost about as much CPU as one of a recording's INSERTs
        cursor = connection.connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
        finally:
            cursor.close()


@dataclass(frozen=True)
class IdList:
    """A batch of ids bound as one parameter, so a statement keeps one shape (and one compiled
    form) whatever the batch size, where `IN (:id_1, … :id_100)` is rendered anew every call.

    SQLite: `column IN (SELECT value FROM json_each(:ids))`, the ids as a JSON array.
    PostgreSQL: `column = ANY(:ids)`, the ids as an array.
    """

    sqlite: bool

    @classmethod
    def of(cls, engine: AsyncEngine) -> IdList:
        return cls(sqlite=is_sqlite(engine))

    def matches(self, column: Any, name: str = "ids") -> Any:
        if self.sqlite:
            ids = func.json_each(bindparam(name, type_=Text)).table_valued("value")
            return column.in_(select(ids.c.value))
        return column == any_(bindparam(name, type_=ARRAY(String)))

    def bind(self, ids: Sequence[str]) -> Any:
        return json.dumps(list(ids)) if self.sqlite else list(ids)


class SchemaIntegrityError(RuntimeError):
    """A schema change would leave rows whose foreign keys point nowhere; it was rolled back."""


@contextlib.asynccontextmanager
async def schema_transaction(engine: AsyncEngine, lock_key: int) -> AsyncIterator[AsyncConnection]:
    """A connection inside one transaction for a schema change, one process at a time.

    PostgreSQL: DDL is transactional, and `pg_advisory_xact_lock(lock_key)`, taken first, makes
    processes that start at once take turns; the next one sees the finished schema. The lock is
    released at commit or rollback, or when a crashed process's session ends, so it never leaks.
    SQLite: `BEGIN IMMEDIATE` already admits one writer. Foreign keys are off for the duration,
    because a batch-mode table rebuild drops the old table and, with them on, that DROP would
    cascade-delete the rows referencing it; `PRAGMA foreign_key_check` runs before the commit
    (SQLite's own procedure for table rebuilds, https://sqlite.org/lang_altertable.html).
    """
    async with engine.connect() as conn:
        sqlite = is_sqlite(engine)
        if sqlite:
            # PRAGMA foreign_keys is a no-op inside a transaction: set it before the BEGIN
            await conn.run_sync(_raw_pragma, "foreign_keys=OFF")
        try:
            async with conn.begin():
                if sqlite:
                    yield conn
                    broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                    if broken:
                        raise SchemaIntegrityError(f"foreign keys broken by the change: {broken}")
                else:
                    await advisory_xact_lock(conn, lock_key)
                    yield conn
        finally:
            if sqlite:
                await conn.run_sync(_raw_pragma, "foreign_keys=ON")


def _raw_pragma(conn: Connection, pragma: str) -> None:
    """A PRAGMA on the driver's connection, outside any transaction (autocommit, see connect)."""
    dbapi_connection = conn.connection.dbapi_connection
    assert dbapi_connection is not None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in and out, on both databases (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[dt.datetime | None], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # the same text SQLAlchemy's SQLite DATETIME stores ("YYYY-MM-DD HH:MM:SS.ffffff", fixed
        # width, so text order is time order) in one step instead of two: bulk writes bind four
        # of these per record
        def process(value: dt.datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            if value.tzinfo is not dt.UTC:
                value = value.astimezone(dt.UTC)
            return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00"

        return process

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
