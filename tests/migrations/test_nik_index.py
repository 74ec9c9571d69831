"""Revision 0014 over a node holding records in flight and past it, several of one NIK:
FALSE becomes NULL, the NIK index holds every record (still one in flight per NIK), and the
downgrade gives back revision 0013's rows and schema exactly."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from alembic import command
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ektp_sync.domain.states import IN_FLIGHT, RecordState
from ektp_sync.migrations import alembic_config, schema_diff, upgrade
from ektp_sync.storage import schema_transaction
from local_server.store.listing import page_query
from local_server.store.tables import SCHEMA as LOCAL
from local_server.store.tables import records
from local_server.store.transitions import in_flight_of

from .support import SEALER, ddl_fingerprint, in_flight_by_id, record_0012

S = RecordState
Engines = Callable[[str], AsyncEngine]
BEFORE = "0013"
NIK, OTHER_NIK = "6172010101900001", "6172010101900002"
#: one NIK's records, three past flight and one in flight, and another NIK's, approved
STATES = {"a": S.REJECTED, "b": S.FAILED, "c": S.PRINTED, "d": S.QUEUED, "e": S.APPROVED}
#: "one in flight per NIK", as each revision's index reports it
NIK_TAKEN = r"uq_records_nik_in_flight|records.nik_lookup"


async def _node_at_0013(engine: AsyncEngine) -> None:
    await upgrade(engine, LOCAL, BEFORE)
    rows = [
        record_0012(rid, state, OTHER_NIK if rid == "e" else NIK)
        | {"in_flight": state in IN_FLIGHT}
        for rid, state in STATES.items()
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(records), rows)


async def _record_again(engine: AsyncEngine, record_id: str, state: RecordState) -> None:
    """One more record of NIK, written as the schema now stands."""
    row = record_0012(record_id, state, NIK) | {"in_flight": in_flight_of(state)}
    async with engine.begin() as conn:
        await conn.execute(insert(records).values(row))


async def test_upgrade_makes_past_records_null_and_finds_all_of_a_nik(
    db_url: str, engines: Engines
) -> None:
    engine = engines(db_url)
    await _node_at_0013(engine)
    await upgrade(engine, LOCAL, data_key=SEALER.key)
    assert await schema_diff(engine, LOCAL) == []
    assert await in_flight_by_id(engine) == {rid: in_flight_of(s) for rid, s in STATES.items()}
    async with engine.connect() as conn:
        found = await conn.execute(page_query(None, 10, None, SEALER.nik_lookup(NIK)))
        assert [row.id for row in found] == ["a", "b", "c", "d"]
    with pytest.raises(IntegrityError, match=NIK_TAKEN):
        await _record_again(engine, "f", S.QUEUED)
    await _record_again(engine, "g", S.REJECTED)  # past flight: as many as come


async def test_downgrade_gives_back_the_rows_and_the_schema_of_0013(
    db_factory: Callable[[], Awaitable[str]], engines: Engines
) -> None:
    engine, fresh = engines(await db_factory()), engines(await db_factory())
    await _node_at_0013(engine)
    await upgrade(engine, LOCAL, data_key=SEALER.key)
    async with schema_transaction(engine, LOCAL.lock_key) as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(LOCAL, c), BEFORE))
    assert await in_flight_by_id(engine) == {rid: s in IN_FLIGHT for rid, s in STATES.items()}
    await upgrade(fresh, LOCAL, BEFORE)
    tables = set(LOCAL.metadata.tables)
    async with engine.connect() as a, fresh.connect() as b:
        assert await a.run_sync(ddl_fingerprint, tables) == await b.run_sync(
            ddl_fingerprint, tables
        )
    with pytest.raises(IntegrityError, match=NIK_TAKEN):
        await _record_again(engine, "f", S.QUEUED)
