"""The queue benchmark's stack-free sides: plain `sqlite3` writing what a recording writes.

Two shapes, each on a database made by the node's migrations, at the node's pragmas, sealed as
the node seals, one transaction per record:

- our SQL: the node's two INSERTs (record, queue entry) as SQLAlchemy compiles them: what our
  schema costs with no stack on top;
- a one-table intake: each sealed record written once, into a table with one unique index (the
  NIK's lookup) and a trigger refusing a NIK in flight in `records` — the leanest write that
  keeps "one NIK in flight" exact. Anything a node adds (sealing in the event loop, the writer
  thread, SQLAlchemy, folding the intake into `records` later) only adds to it: it is the floor
  of any design on this disk.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects import sqlite

from bench.nodedb import create_node_db, node_sealer
from ektp_sync.storage import UTCDateTime
from ektp_sync.wire import ResidentRecord
from local_server.store.queue import queue_entry
from local_server.store.records import new_record_row
from local_server.store.tables import outbox, records

SQLITE_DEFAULT_CHECKPOINT = 1000  # pages: SQLite's own wal_autocheckpoint (persist-queue's)

#: (connection, the record's row as the node builds it) -> the statements of one recording
Writer = Callable[[sqlite3.Connection, dict[str, Any]], None]


@dataclass(frozen=True)
class Timed:
    """The timed part of one side: how many, wall seconds, CPU seconds of this process (all of
    its threads: the writer thread's SQLite work counts)."""

    count: int
    wall: float
    cpu: float

    @classmethod
    def since(cls, count: int, start: tuple[float, float]) -> Timed:
        return cls(count, time.perf_counter() - start[0], time.process_time() - start[1])

    @property
    def rate(self) -> float:
        return self.count / self.wall

    @property
    def cpu_ms(self) -> float:
        return self.cpu / self.count * 1000


def start_clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


_STAMP = UTCDateTime().bind_processor(sqlite.dialect())


def _plain(value: Any) -> Any:
    """A value as the node's engine binds it (datetimes as its UTC text)."""
    assert _STAMP is not None
    return _STAMP(value) if isinstance(value, dt.datetime) else value


@functools.cache
def _sql(table: Any, keys: tuple[str, ...]) -> tuple[str, list[str]]:
    """The INSERT of `keys` as SQLAlchemy compiles it for SQLite, and the order of its `?`s
    (the table's column order, not the order of `keys`)."""
    compiled = insert(table).compile(dialect=sqlite.dialect(), column_keys=keys)
    assert compiled.positiontup is not None
    return str(compiled), list(compiled.positiontup)


def _recordings(
    path: Path,
    people: Sequence[ResidentRecord],
    checkpoint_pages: int,
    setup: Sequence[str],
    write: Writer,
) -> Timed:
    """Records per second, each sealed and written by `write` in a transaction of its own."""
    asyncio.run(create_node_db(path))
    sealer = node_sealer(path.with_suffix(".key"))
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
            connection.execute(f"PRAGMA {pragma}")
        connection.execute(f"PRAGMA wal_autocheckpoint={checkpoint_pages}")
        for ddl in setup:
            connection.execute(ddl)
        start = start_clock()
        for n, person in enumerate(people):
            now = dt.datetime.now(dt.UTC)
            row = new_record_row(f"{n:024d}", f"6172-{n:024d}", person, now, sealer)
            connection.execute("BEGIN IMMEDIATE")
            write(connection, row)
            connection.execute("COMMIT")
        return Timed.since(len(people), start)
    finally:
        connection.close()


def plain_outbox(path: Path, people: Sequence[ResidentRecord], checkpoint_pages: int) -> Timed:
    """Our two INSERTs (the record, its queue entry)."""

    def write(connection: sqlite3.Connection, row: dict[str, Any]) -> None:
        entry = queue_entry(row["id"], row["payload_bytes"], row["created_at"])
        record_sql, record_keys = _sql(records, tuple(row))
        entry_sql, entry_keys = _sql(outbox, tuple(entry))
        connection.execute(record_sql, [_plain(row[k]) for k in record_keys])
        connection.execute(entry_sql, [_plain(entry[k]) for k in entry_keys])

    return _recordings(path, people, checkpoint_pages, (), write)


#: what a fold into `records` would need of a recording
_INTAKE_COLUMNS = (
    "id",
    "nik_lookup",
    "nik_sealed",
    "payload_sealed",
    "submission_id",
    "payload_bytes",
    "created_at",
)
_INTAKE_DDL = (
    "CREATE TABLE intake (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, nik_lookup TEXT NOT NULL"
    " UNIQUE, nik_sealed BLOB NOT NULL, payload_sealed BLOB NOT NULL, submission_id TEXT NOT"
    " NULL, payload_bytes INTEGER NOT NULL, created_at TEXT NOT NULL)",
    "CREATE TRIGGER intake_nik_in_flight BEFORE INSERT ON intake WHEN EXISTS (SELECT 1 FROM"
    " records WHERE nik_lookup = NEW.nik_lookup AND in_flight) BEGIN SELECT RAISE(ABORT,"
    " 'nik in flight'); END",
)
_INTAKE_INSERT = (
    f"INSERT INTO intake ({', '.join(_INTAKE_COLUMNS)})"
    f" VALUES ({', '.join('?' * len(_INTAKE_COLUMNS))})"
)


def intake_floor(path: Path, people: Sequence[ResidentRecord], checkpoint_pages: int) -> Timed:
    """Each record written once, into the one-table intake."""

    def write(connection: sqlite3.Connection, row: dict[str, Any]) -> None:
        connection.execute(_INTAKE_INSERT, [_plain(row[k]) for k in _INTAKE_COLUMNS])

    return _recordings(path, people, checkpoint_pages, _INTAKE_DDL, write)
