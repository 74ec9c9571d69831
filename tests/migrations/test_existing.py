"""Databases that are not empty: made by the old create_all start-up, by a newer version, or
rebuilt by a later revision's batch mode on SQLite."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, String, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ektp_sync.migrations import (
    MigrationError,
    Schema,
    alembic_config,
    current_revision,
    head,
    schema_diff,
    upgrade,
)
from ektp_sync.sealing import DataKey
from ektp_sync.storage import SchemaIntegrityError, schema_transaction
from local_server.store.sealed import NodeSealer
from local_server.store.tables import SCHEMA as LOCAL
from local_server.store.tables import outbox, records

from .support import add_clear_record, baseline, migrate_cli

Engines = Callable[[str], AsyncEngine]
SEALER = NodeSealer(DataKey(bytes(range(32))))
NOW = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)


async def _made_by_create_all(engine: AsyncEngine, schema: Schema) -> None:
    """The baseline's tables without a version table: what the old start-up left behind."""
    await upgrade(engine, schema, schema.baseline)
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP TABLE {schema.version_table}"))


async def _add_record(engine: AsyncEngine, record_id: str = "r1") -> None:
    """A queued record and its queue entry, in the schema at head."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(records).values(
                id=record_id, state="queued", in_flight=True, submission_id=record_id,
                **SEALER.record_columns(record_id, "6172010101900001", "{}"),
                payload_bytes=2, attempts=0, created_at=NOW, updated_at=NOW,
            )
        )  # fmt: skip
        await conn.execute(
            insert(outbox).values(
                record_id=record_id, enqueued_at=NOW, next_attempt_at=NOW, attempts=0,
                payload_bytes=2,
            )
        )  # fmt: skip


async def _count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_create_all_database_is_stamped_then_upgraded_keeping_its_rows(
    db_url: str, engines: Engines
) -> None:
    engine = engines(db_url)
    await _made_by_create_all(engine, LOCAL)
    await add_clear_record(engine, "r1", "6172010101900001")
    done = await upgrade(engine, LOCAL, data_key=SEALER.key)
    assert (done.before, done.stamped, done.after) == (None, LOCAL.baseline, head(LOCAL))
    assert "stamped" in done.describe()
    assert await _count(engine, "outbox") == 1
    assert await schema_diff(engine, LOCAL) == []


async def test_create_all_database_of_the_centre_is_stamped_via_the_cli(
    db_url: str, engines: Engines
) -> None:
    from central_server.store.tables import SCHEMA as CENTRAL

    await _made_by_create_all(engines(db_url), CENTRAL)
    result = migrate_cli(CENTRAL, db_url)
    assert result.returncode == 0, result.stderr
    assert f"matching revision {CENTRAL.baseline}: stamped" in result.stdout
    assert await current_revision(engines(db_url), CENTRAL) == head(CENTRAL)


async def test_version_less_database_unlike_the_baseline_is_refused_untouched(
    schema: Schema, db_url: str, engines: Engines
) -> None:
    engine = engines(db_url)
    await _made_by_create_all(engine, schema)
    missing = baseline(schema).INDEXES[0]
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP INDEX {missing}"))
    result = migrate_cli(schema, db_url)
    assert result.returncode == 1
    assert f"index {missing} missing" in result.stderr
    assert "Refusing to guess" in result.stderr
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(c.dialect.get_table_names(c)))
    assert schema.version_table not in tables  # rolled back: nothing stamped, nothing made


async def test_database_of_a_newer_version_is_refused(
    schema: Schema, db_url: str, engines: Engines
) -> None:
    engine = engines(db_url)
    await upgrade(engine, schema)
    async with engine.begin() as conn:
        await conn.execute(text(f"UPDATE {schema.version_table} SET version_num = '9999'"))
    with pytest.raises(MigrationError, match="'9999', which this version of ektp-sync does not"):
        await upgrade(engine, schema)


async def test_downgrade_to_nothing_and_up_again(
    schema: Schema, db_url: str, engines: Engines
) -> None:
    engine = engines(db_url)
    await upgrade(engine, schema)
    async with schema_transaction(engine, schema.lock_key) as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(schema, c), "base"))
    async with engine.connect() as conn:
        left = await conn.run_sync(lambda c: set(c.dialect.get_table_names(c)))
    assert left & set(schema.metadata.tables) == set()
    assert (await upgrade(engine, schema)).after == head(schema)
    assert await schema_diff(engine, schema) == []


def _rebuild_records(conn: Connection) -> None:
    """What a later revision altering `records` does on SQLite: copy, drop, rename."""
    operations = Operations(MigrationContext.configure(conn))
    with operations.batch_alter_table("records", recreate="always") as batch:
        batch.add_column(Column("note", String(10)))


async def test_sqlite_batch_rebuild_keeps_referencing_rows_and_the_partial_index(
    tmp_path: Path, engines: Engines
) -> None:
    engine = engines(f"sqlite:///{tmp_path}/node.db")
    await upgrade(engine, LOCAL)
    await _add_record(engine)
    async with schema_transaction(engine, LOCAL.lock_key) as conn:
        await conn.run_sync(_rebuild_records)
    # with foreign keys on, dropping the old `records` would have cascaded into the outbox
    assert await _count(engine, "outbox") == 1
    async with engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar_one() == 1
        found = await conn.execute(
            text("SELECT name, sql FROM sqlite_master WHERE tbl_name = 'records'")
        )
        indexes = {name: sql for name, sql in found}
        assert "WHERE sent_at IS NOT NULL" in indexes["ix_records_decision_times"]
        assert "(nik_lookup, in_flight)" in indexes["uq_records_nik_in_flight"]
        # the CHECK that ties in_flight to state is carried over by the rebuild (reflected)
        table_sql = (
            await conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'records'"))
        ).scalar_one()
        assert "CONSTRAINT ck_records_in_flight CHECK" in table_sql
        rows = (await conn.execute(select(func.count()).select_from(records))).scalar_one()
    assert rows == 1


async def test_sqlite_change_that_orphans_rows_is_rolled_back(
    tmp_path: Path, engines: Engines
) -> None:
    engine = engines(f"sqlite:///{tmp_path}/node.db")
    await upgrade(engine, LOCAL)
    await _add_record(engine)
    with pytest.raises(SchemaIntegrityError, match="foreign keys broken"):
        async with schema_transaction(engine, LOCAL.lock_key) as conn:
            # foreign keys are off during the change, so nothing stops this until the check
            await conn.execute(text("DELETE FROM records"))
    assert await _count(engine, "records") == 1
    assert await _count(engine, "outbox") == 1
