"""Helpers of the migration tests: the schemas, the CLI as a subprocess, a DDL fingerprint."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from types import ModuleType

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

# the apps import every module that puts a table on a schema's MetaData, so comparisons with
# the migrated database see all the tables the servers use (the node's are all in one module)
import central_server.app  # noqa: F401
from central_server.store.tables import SCHEMA as CENTRAL
from ektp_sync.domain.states import RecordState
from ektp_sync.migrations import Schema, alembic_config
from ektp_sync.sealing import DataKey
from local_server.store.sealed import NodeSealer
from local_server.store.tables import SCHEMA as LOCAL
from local_server.store.tables import records

SCHEMAS = {"central": CENTRAL, "local": LOCAL}
#: what seals the records the revision tests put in a node (its key passed to `upgrade`)
SEALER = NodeSealer(DataKey(bytes(range(32))))


def migrate_cli(schema: Schema, db_url: str) -> subprocess.CompletedProcess[str]:
    """`ektp-sync <server> migrate --db URL` in a process of its own, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "ektp_sync", schema.name, "migrate", "--db", db_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def baseline(schema: Schema) -> ModuleType:
    script = ScriptDirectory.from_config(alembic_config(schema)).get_revision(schema.baseline)
    assert script is not None
    return script.module


def ddl_fingerprint(conn: Connection, tables: set[str]) -> set[tuple[str, ...]]:
    """Every column, constraint and index of `tables` as the database itself prints them.

    Each row starts with its table's name.
    Stricter than Alembic's comparison: index predicates, ON DELETE, serial defaults and
    constraint names all count, which is what "the migrations make exactly what create_all
    made" needs.
    """
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text("SELECT type, name, tbl_name, sql FROM sqlite_master")).all()
        return {
            (table, kind, name, _sqlite_sql(sql or ""))
            for kind, name, table, sql in rows
            if table in tables
        }
    columns = conn.execute(
        text(
            "SELECT table_name, column_name, data_type, coalesce(character_maximum_length, 0), "
            "is_nullable, coalesce(column_default, '') FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        )
    ).all()
    constraints = conn.execute(
        text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
        )
    ).all()
    indexes = conn.execute(
        text("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")
    ).all()
    return {
        tuple(str(v) for v in row) for row in (*columns, *constraints, *indexes) if row[0] in tables
    }


#: a table constraint in SQLite's CREATE TABLE text, as opposed to a column definition
_CONSTRAINT = re.compile(r"^(PRIMARY KEY|UNIQUE|FOREIGN KEY|CONSTRAINT|CHECK)\b")


def _sqlite_sql(sql: str) -> str:
    """SQLite's CREATE text, whitespace normalised; for a table, the two things a rebuild by
    Alembic's batch mode changes without changing the table are undone: SQLite quotes the name
    of a table renamed into place, and batch mode lists the table constraints in another order
    (columns keep theirs: they are compared in order). Table options (WITHOUT ROWID) count."""
    sql = re.sub(r"\s+", " ", sql).strip()
    match = re.fullmatch(r'CREATE TABLE "?(\w+)"? \((.*)\)( WITHOUT ROWID)?', sql)
    if match is None:
        return sql
    name, body, options = match.groups()
    items, depth, start = [], 0, 0
    for i, char in enumerate(body):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(body[start:i].strip())
            start = i + 1
    items.append(body[start:].strip())
    columns = [item for item in items if not _CONSTRAINT.match(item)]
    constraints = sorted(item for item in items if _CONSTRAINT.match(item))
    return f"CREATE TABLE {name} ({', '.join(columns + constraints)}){options or ''}"


async def add_clear_record(
    engine: AsyncEngine, record_id: str, nik: str, payload: str = "{}"
) -> None:
    """A queued record and its queue entry as the node wrote them before sealing (revisions
    0001-0007): NIK and payload in clear."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO records (id, nik, state, submission_id, payload, payload_bytes, "
                "attempts, created_at, updated_at) VALUES (:id, :nik, 'queued', :id, :payload, "
                ":size, 0, '2026-11-29 00:00:00', '2026-11-29 00:00:00')"
            ),
            {"id": record_id, "nik": nik, "payload": payload, "size": len(payload)},
        )
        await conn.execute(
            text(
                "INSERT INTO outbox (record_id, enqueued_at, next_attempt_at, attempts, "
                "payload_bytes) VALUES (:id, '2026-11-29 00:00:00', '2026-11-29 00:00:00', 0, "
                ":size)"
            ),
            {"id": record_id, "size": len(payload)},
        )


def record_0012(record_id: str, state: RecordState, nik: str) -> dict[str, object]:
    """A record as revision 0012 stored it (no `in_flight` yet), sealed by `SEALER`."""
    now = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    return {
        "id": record_id,
        "state": state.value,
        "submission_id": f"6172-{record_id}",
        **SEALER.record_columns(record_id, nik, "{}"),
        "payload_bytes": 2,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


async def in_flight_by_id(engine: AsyncEngine) -> dict[str, bool | None]:
    """Each record's `in_flight`, by id."""
    async with engine.connect() as conn:
        found = await conn.execute(select(records.c.id, records.c.in_flight))
        return {row.id: row.in_flight for row in found}
