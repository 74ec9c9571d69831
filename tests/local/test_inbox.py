"""Applying the centre's decisions: in order, idempotent, overtaking uploads, cursor kept."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ektp_sync.domain.states import RecordState
from ektp_sync.storage import create_engine, utcnow
from ektp_sync.wire import Decision
from local_server.store.decisions import CURSOR_KEY, Inbox
from local_server.store.queue import enqueue
from local_server.store.tables import create_tables, outbox, records
from local_server.store.transitions import in_flight_of

from .sealing import SEALER


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    await create_tables(engine)
    yield engine
    await engine.dispose()


async def add(
    engine: AsyncEngine, record_id: str, state: str, queued: bool, nik: str | None = None
) -> None:
    now = utcnow()
    async with engine.begin() as conn:
        await conn.execute(
            records.insert().values(
                id=record_id,
                **SEALER.record_columns(
                    record_id,
                    nik or ("6172010605900001" if record_id == "a" else "6172010605900002"),
                    "{}",
                ),
                state=state,
                in_flight=in_flight_of(RecordState(state)),
                submission_id=f"sub-{record_id}",
                payload_bytes=2,
                attempts=0,
                created_at=now,
                updated_at=now,
            )
        )
        if queued:
            await enqueue(conn, record_id, 2)


def decision(sid: str, status: str, reason: str) -> Decision:
    return Decision.model_validate(
        {"submission_id": sid, "nik": "6172010605900001", "status": status, "reason": reason}
    )


async def state_of(engine: AsyncEngine, record_id: str) -> tuple[str, str | None]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(records.c.state, records.c.decision_reason).where(records.c.id == record_id)
            )
        ).one()
    return row.state, row.decision_reason


async def test_decisions_apply_in_order_and_move_the_cursor(engine: AsyncEngine) -> None:
    await add(engine, "a", "awaiting_decision", queued=False)
    inbox = Inbox(engine, SEALER)
    page = [
        decision("sub-a", "review", "possible_duplicate"),
        decision("sub-unknown", "approved", "new_identity"),  # logged and skipped
        decision("sub-a", "rejected", "duplicate_identity"),
    ]
    assert await inbox.apply(page, "c3") == 2
    assert await state_of(engine, "a") == ("rejected", "duplicate_identity")
    assert await inbox.get(CURSOR_KEY) == "c3"
    # a repeated page changes nothing (a final state is final)
    assert await inbox.apply(page[:1], "c4") == 0
    assert await state_of(engine, "a") == ("rejected", "duplicate_identity")
    assert await inbox.get(CURSOR_KEY) == "c4"


async def test_a_decision_overtaking_the_upload_removes_the_queue_entry(
    engine: AsyncEngine,
) -> None:
    await add(engine, "b", "queued", queued=True)
    inbox = Inbox(engine, SEALER)
    assert await inbox.apply([decision("sub-b", "approved", "reissue")], "1") == 1
    assert await state_of(engine, "b") == ("approved", "reissue")
    async with engine.connect() as conn:
        assert (await conn.execute(select(outbox))).all() == []


async def test_a_page_costs_the_same_few_statements_however_many_decisions_it_holds(
    engine: AsyncEngine,
) -> None:
    states = ["queued", "uploading", "awaiting_decision", "review", "printed"]
    for n in range(40):
        await add(engine, f"r{n:02d}", states[n % 5], queued=n % 5 < 2, nik=f"61720106059{n:05d}")
    # r02 waits for a decision: review, and its adjudication, arrive in the same page
    page = [decision("sub-r02", "review", "possible_duplicate")]
    page += [decision(f"sub-r{n:02d}", "approved", "new_identity") for n in range(40) if n != 2]
    page += [decision("sub-r02", "rejected", "duplicate_identity")]
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        applied = await Inbox(engine, SEALER).apply(page, "next")
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    # every record but the 8 printed ones moves; r02 twice
    assert applied == 32 + 1
    assert await state_of(engine, "r02") == ("rejected", "duplicate_identity")
    assert await state_of(engine, "r03") == ("approved", "new_identity")
    assert await state_of(engine, "r01") == ("approved", "new_identity")
    assert await state_of(engine, "r04") == ("printed", None)
    async with engine.connect() as conn:
        assert (await conn.execute(select(outbox))).all() == []
    # select, lock queue entries, lock records, update, delete, cursor (read + maybe insert),
    # plus BEGIN on SQLite: a constant, where one round trip per decision made 200
    assert len(statements) <= 9, statements


async def test_the_first_pinned_key_stays(engine: AsyncEngine) -> None:
    inbox = Inbox(engine, SEALER)
    assert await inbox.pin_public_key("first") == "first"
    assert await inbox.pin_public_key("second") == "first"
