"""`GET /records?nik=`: every record of the NIK, past flight or in it, found through the NIK
index (`uq_records_nik_in_flight`, which holds every record), never by reading the table."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import delete, insert, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ektp_sync.config import LocalSettings
from ektp_sync.domain.states import IN_FLIGHT, RecordState
from ektp_sync.storage import create_engine, utcnow
from ektp_sync.wire import ResidentRecord
from local_server.app import create_app
from local_server.errors import NikInFlight
from local_server.service import new_record_id, new_submission_id
from local_server.store import NodeStore
from local_server.store.listing import page_query
from local_server.store.tables import create_tables, outbox, records
from local_server.store.transitions import in_flight_of, move

from .conftest import running
from .residents import resident
from .sealing import SEALER

S = RecordState
NOW = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
#: what each of a NIK's earlier records became, in recording order
PAST = [S.REJECTED, S.PRINTED, S.APPROVED]


async def _leave_flight(engine: AsyncEngine, record_id: str, past: RecordState) -> None:
    """The record moved out of flight as the centre's decisions (and the printer) would."""
    path = [S.APPROVED, S.PRINTED] if past is S.PRINTED else [past]
    async with engine.begin() as conn:
        for target in path:
            made = move(target)
            done = await conn.execute(
                update(records).where(records.c.id == record_id, made.allowed).values(made.values)
            )
            assert done.rowcount == 1
        await conn.execute(delete(outbox).where(outbox.c.record_id == record_id))


async def test_a_nik_is_listed_with_its_past_records_and_the_one_in_flight(
    settings_for: Callable[..., LocalSettings],
) -> None:
    settings = settings_for()
    person = ResidentRecord.model_validate(resident(7))
    store = NodeStore.open(str(settings.db_url), settings.data_key())
    try:  # recorded without the node's sync engine, which would move them meanwhile
        await store.migrate()
        made = []
        for past in PAST:
            made.append(new_record_id())
            await store.records.add(made[-1], new_submission_id("6172"), person, utcnow())
            await _leave_flight(store.engine, made[-1], past)
        made.append(new_record_id())
        await store.records.add(made[-1], new_submission_id("6172"), person, utcnow())
        with pytest.raises(NikInFlight):  # still one in flight
            await store.records.add(new_record_id(), new_submission_id("6172"), person, utcnow())
        other = ResidentRecord.model_validate(resident(8))  # another NIK's: not listed
        await store.records.add(new_record_id(), new_submission_id("6172"), other, utcnow())
    finally:
        await store.close()

    async with running(create_app(settings)) as node:
        whole = (await node.get("/records", params={"nik": person.nik})).json()
        assert [r["id"] for r in whole["records"]] == made
        assert [r["state"] for r in whole["records"]][:3] == PAST
        assert RecordState(whole["records"][3]["state"]) in IN_FLIGHT
        paged, cursor = [], None
        while True:  # and page by page
            params = {"nik": person.nik, "limit": 3} | ({"cursor": cursor} if cursor else {})
            page = (await node.get("/records", params=params)).json()
            paged += [r["id"] for r in page["records"]]
            if (cursor := page["next_cursor"]) is None:
                break
        assert paged == made
        approved = {"nik": person.nik, "state": "approved"}
        listed = (await node.get("/records", params=approved)).json()["records"]
        assert [r["id"] for r in listed] == [made[2]]


@pytest.fixture
async def big_node(db_url: str) -> AsyncIterator[AsyncEngine]:
    """A node with records in every state, of many NIKs, their payloads of a real size, and
    the planner's statistics (PostgreSQL: its autovacuum would have gathered them)."""
    engine = create_engine(db_url)
    await create_tables(engine)
    states = sorted(RecordState)
    rows = []
    for n in range(400):
        state, record_id = states[n % len(states)], f"r{n:05d}"
        rows.append(
            {
                "id": record_id,
                **SEALER.record_columns(record_id, f"61720101019{n:05d}", "x" * 1200),
                "state": state.value,
                "in_flight": in_flight_of(state),
                "submission_id": f"6172-{record_id}",
                "payload_bytes": 1200,
                "attempts": 0,
                "created_at": NOW,
                "updated_at": NOW,
            }
        )
    async with engine.begin() as conn:
        await conn.execute(insert(records), rows)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE records"))
    yield engine
    await engine.dispose()


async def _plan(conn: AsyncConnection, state: RecordState | None, after: str | None) -> str:
    query = page_query(state, 51, after, SEALER.nik_lookup("6172010101900007"))
    sql = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    explain = "EXPLAIN QUERY PLAN" if conn.dialect.name == "sqlite" else "EXPLAIN"
    lines = (await conn.execute(text(f"{explain} {sql}"))).all()
    return "\n".join(str(line[-1]) for line in lines)


@pytest.mark.parametrize(("state", "after"), [(None, None), (S.PRINTED, None), (S.QUEUED, "r0")])
async def test_a_search_by_nik_reads_the_nik_index_not_the_table(
    big_node: AsyncEngine, state: RecordState | None, after: str | None
) -> None:
    async with big_node.connect() as conn:
        plan = await _plan(conn, state, after)
    # every way to `records` in the plan: a SEARCH (SQLite) or a scan of an index by its
    # condition (PostgreSQL), through the NIK index: no SCAN of the table, nor of another
    # index (the primary key in id order, or (state, id), would read them all)
    if big_node.dialect.name == "sqlite":
        ways = [line for line in plan.splitlines() if " records " in f"{line} "]
        assert ways == ["SEARCH records USING INDEX uq_records_nik_in_flight (nik_lookup=?)"], plan
    else:
        ways = [line.split("  (")[0] for line in plan.splitlines() if " on records " in line]
        assert ways, plan
        for way in ways:
            assert "uq_records_nik_in_flight" in way or "Bitmap Heap Scan" in way, plan
        assert "Index Cond: ((nik_lookup)::text = " in plan, plan
        assert "Seq Scan on records" not in plan, plan
