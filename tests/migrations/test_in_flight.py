"""Revisions 0013 and 0014 over a node holding records in every state: `in_flight` from each
state, the NIK index on it, the CHECK that refuses a state written without it, and the queue
entries kept through the outbox's rebuild (SQLite: WITHOUT ROWID)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from alembic import command
from sqlalchemy import column, delete, insert, table, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.expression import TableClause

from ektp_sync.domain.states import RecordState
from ektp_sync.migrations import alembic_config, schema_diff, upgrade
from ektp_sync.storage import schema_transaction
from local_server.store.queue import queue_entry
from local_server.store.tables import SCHEMA as LOCAL
from local_server.store.tables import outbox, records
from local_server.store.transitions import in_flight_of

from .support import SEALER, in_flight_by_id, record_0012

Engines = Callable[[str], AsyncEngine]
#: one NIK per state, and one more record of the queued one's NIK, long since rejected
NIKS = {state: f"61720101019{n:05d}" for n, state in enumerate(RecordState)}
#: the records with a queue entry
QUEUED = (RecordState.QUEUED, RecordState.UPLOADING)
BEFORE = "0012"


async def _node_at_0012_with_every_state(engine: AsyncEngine) -> None:
    await upgrade(engine, LOCAL, BEFORE)
    rows = [record_0012(state.value, state, nik) for state, nik in NIKS.items()]
    rows.append(record_0012("old", RecordState.REJECTED, NIKS[RecordState.QUEUED]))
    async with engine.begin() as conn:
        await conn.execute(insert(_records_0012()), rows)
        await conn.execute(
            insert(outbox),
            [queue_entry(s.value, 2, dt.datetime(2026, 12, 2, tzinfo=dt.UTC)) for s in QUEUED],
        )


def _records_0012() -> TableClause:
    """`records` with the columns revision 0012 had (the table in code has more)."""
    names = record_0012("x", RecordState.QUEUED, NIKS[RecordState.QUEUED])
    return table("records", *(column(name, records.c[name].type) for name in names))


async def _queued(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.execute(text("SELECT record_id FROM outbox"))).scalars())


async def test_existing_records_get_in_flight_from_their_state(
    db_url: str, engines: Engines
) -> None:
    engine = engines(db_url)
    await _node_at_0012_with_every_state(engine)
    await upgrade(engine, LOCAL, data_key=SEALER.key)
    assert await schema_diff(engine, LOCAL) == []
    # as revision 0014 has it: NULL, not FALSE, past flight
    expected = {state.value: in_flight_of(state) for state in RecordState} | {"old": None}
    assert await in_flight_by_id(engine) == expected
    assert await _queued(engine) == {s.value for s in QUEUED}
    async with engine.begin() as conn:  # the rebuilt outbox still follows its record
        await conn.execute(delete(records).where(records.c.id == RecordState.QUEUED.value))
    assert await _queued(engine) == {RecordState.UPLOADING.value}


async def test_after_the_upgrade_one_nik_is_in_flight_once(db_url: str, engines: Engines) -> None:
    engine = engines(db_url)
    await _node_at_0012_with_every_state(engine)
    await upgrade(engine, LOCAL, data_key=SEALER.key)
    again = record_0012("again", RecordState.QUEUED, NIKS[RecordState.UPLOADING]) | {
        "in_flight": True
    }
    with pytest.raises(IntegrityError, match=r"uq_records_nik_in_flight|records.nik_lookup"):
        async with engine.begin() as conn:
            await conn.execute(insert(records).values(again))
    # a NIK whose records all left flight may be recorded again
    anew = record_0012("anew", RecordState.QUEUED, NIKS[RecordState.PRINTED]) | {"in_flight": True}
    async with engine.begin() as conn:
        await conn.execute(insert(records).values(anew))


@pytest.mark.parametrize(
    ("record_id", "values"),
    [
        ("queued", {"state": "failed"}),  # left flight, in_flight not written
        ("failed", {"state": "queued"}),  # back in flight, in_flight not written
        ("approved", {"in_flight": True}),  # in_flight written alone
        ("approved", {"in_flight": False}),  # FALSE: a NIK's second past record would collide
    ],
)
async def test_a_state_and_in_flight_that_disagree_are_refused(
    db_url: str, engines: Engines, record_id: str, values: dict[str, object]
) -> None:
    engine = engines(db_url)
    await _node_at_0012_with_every_state(engine)
    await upgrade(engine, LOCAL, data_key=SEALER.key)
    with pytest.raises(IntegrityError, match="ck_records_in_flight"):
        async with engine.begin() as conn:
            await conn.execute(update(records).where(records.c.id == record_id).values(values))
    assert (await in_flight_by_id(engine))[record_id] is in_flight_of(RecordState(record_id))


async def test_downgrade_keeps_the_records_and_the_index_on_state(
    db_url: str, engines: Engines
) -> None:
    engine = engines(db_url)
    await _node_at_0012_with_every_state(engine)
    await upgrade(engine, LOCAL, data_key=SEALER.key)
    async with schema_transaction(engine, LOCAL.lock_key) as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(LOCAL, c), BEFORE))
    async with engine.connect() as conn:
        ids = set((await conn.execute(text("SELECT id FROM records"))).scalars())
    assert ids == {state.value for state in RecordState} | {"old"}
    assert await _queued(engine) == {s.value for s in QUEUED}
    again = record_0012("again", RecordState.QUEUED, NIKS[RecordState.REVIEW])
    with pytest.raises(IntegrityError, match=r"uq_records_nik_in_flight|records.nik_lookup"):
        async with engine.begin() as conn:  # the index stands on `state` again
            await conn.execute(insert(_records_0012()).values(again))
