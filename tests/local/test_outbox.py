"""The upload queue on SQLite and PostgreSQL: claim, leases, byte bounds, backoff, release."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import DateTime, event, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ektp_sync.storage import create_engine, utcnow
from local_server.store.queue import Outbox, enqueue
from local_server.store.queue_sql import ITEM_OVERHEAD_BYTES, select_bounded
from local_server.store.sealed import QUEUE_ERROR, RECORD_ERROR
from local_server.store.tables import create_tables, outbox, records

from .sealing import SEALER

LEASE = 60.0
QUEUED = 100_000  # a big queue: there, reading every entry is what the plan must avoid


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    await create_tables(engine)
    yield engine
    await engine.dispose()


async def add(engine: AsyncEngine, n: int, size: int = 100) -> list[str]:
    """Record `n` residents (payloads of `size` bytes), one transaction each, oldest first."""
    ids = []
    for i in range(n):
        record_id = f"r{i:05d}"
        now = utcnow() + dt.timedelta(microseconds=i)
        async with engine.begin() as conn:
            await conn.execute(
                records.insert().values(
                    id=record_id,
                    **SEALER.record_columns(record_id, f"617201060590{i:04d}", '{"x": 1}'),
                    state="queued",
                    in_flight=True,
                    submission_id=f"6172-{record_id}",
                    payload_bytes=size,
                    attempts=0,
                    created_at=now,
                    updated_at=now,
                )
            )
            await enqueue(conn, record_id, size)
        ids.append(record_id)
    return ids


async def add_one(engine: AsyncEngine, i: int, size: int, when: dt.datetime | None = None) -> str:
    """One queued record with its entry, enqueued at `when` (now + i µs by default)."""
    record_id = f"r{i:05d}"
    now = when or utcnow() + dt.timedelta(microseconds=i)
    async with engine.begin() as conn:
        await conn.execute(
            records.insert().values(
                id=record_id, state="queued", in_flight=True,
                **SEALER.record_columns(record_id, f"617201060590{i:04d}", '{"x": 1}'),
                submission_id=f"6172-{record_id}", payload_bytes=size,
                attempts=0, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        await conn.execute(
            outbox.insert().values(
                record_id=record_id, enqueued_at=now, next_attempt_at=now, attempts=0,
                payload_bytes=size,
            )
        )  # fmt: skip
    return record_id


async def states(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(records.c.id, records.c.state))).all()
    return {r.id: r.state for r in rows}


async def test_claim_takes_oldest_first_and_marks_uploading(engine: AsyncEngine) -> None:
    ids = await add(engine, 5)
    queue = Outbox(engine, owner="w1", sealer=SEALER)
    batch = await queue.claim(3, 10_000, LEASE)
    assert [e.record_id for e in batch] == ids[:3]
    assert json.loads(batch[0].payload_json) == {"x": 1}
    assert batch[0].submission_id == "6172-r00000"
    now = await states(engine)
    assert [now[i] for i in ids] == ["uploading"] * 3 + ["queued"] * 2
    # leased entries are not handed out twice
    second = await queue.claim(10, 10_000, LEASE)
    assert [e.record_id for e in second] == ids[3:]
    assert await queue.claim(10, 10_000, LEASE) == []


async def test_batches_are_bounded_by_bytes(engine: AsyncEngine) -> None:
    await add(engine, 6, size=1000)
    queue = Outbox(engine, owner="w1", sealer=SEALER)
    per_item = 1000 + ITEM_OVERHEAD_BYTES
    batch = await queue.claim(100, 2 * per_item + 10, LEASE)
    assert len(batch) == 2
    # one item bigger than the bound still goes alone rather than never
    assert len(await queue.claim(100, 10, LEASE)) == 1


def test_select_bounded() -> None:
    assert select_bounded([], 10) == 0
    assert select_bounded([50], 10) == 1
    assert select_bounded([4, 4, 4], 10) == 2
    assert select_bounded([4, 4], 10) == 2


async def test_an_expired_lease_gives_the_entry_back(engine: AsyncEngine) -> None:
    [record_id] = await add(engine, 1)
    queue = Outbox(engine, owner="w1", sealer=SEALER)
    assert len(await queue.claim(10, 10_000, LEASE)) == 1
    assert await queue.claim(10, 10_000, LEASE) == []
    # push the lease into the past instead of sleeping through it
    async with engine.begin() as conn:
        await conn.execute(update(outbox).values(lease_until=utcnow() - dt.timedelta(seconds=1)))
    again = await queue.claim(10, 10_000, LEASE)
    assert [e.record_id for e in again] == [record_id]


async def test_retry_later_persists_attempts_error_and_backoff(engine: AsyncEngine) -> None:
    [record_id] = await add(engine, 1)
    queue = Outbox(engine, owner="w1", sealer=SEALER)
    await queue.claim(10, 10_000, LEASE)
    seen: list[int] = []

    def delay(attempts: int) -> float:
        seen.append(attempts)
        return 120.0

    before = utcnow()
    [retry] = await queue.retry_later([record_id], "centre answered 503", delay)
    assert seen == [1]
    assert retry.next_attempt_at >= before + dt.timedelta(seconds=120)
    async with engine.connect() as conn:
        entry = (await conn.execute(select(outbox))).one()
        record = (await conn.execute(select(records))).one()
    assert entry.attempts == 1
    # sealed at rest, each bound to its own table and row
    assert b"503" not in entry.last_error and b"503" not in record.last_error
    assert SEALER.open_error(QUEUE_ERROR, record_id, entry.last_error) == "centre answered 503"
    assert entry.lease_until is None
    assert entry.next_attempt_at >= before + dt.timedelta(seconds=120)
    assert (record.state, record.attempts) == ("queued", 1)
    assert SEALER.open_error(RECORD_ERROR, record_id, record.last_error) == "centre answered 503"
    # not due yet: nothing to claim
    assert await queue.claim(10, 10_000, LEASE) == []
    # a second failure backs off from the persisted count, also in a new Outbox (restart)
    async with engine.begin() as conn:
        await conn.execute(update(outbox).values(next_attempt_at=utcnow()))
    restarted = Outbox(engine, owner="w2", sealer=SEALER)
    await restarted.claim(10, 10_000, LEASE)
    await restarted.retry_later([record_id], "connection refused by centre", delay)
    assert seen == [1, 2]


async def test_ack_and_fail_settle_records(engine: AsyncEngine) -> None:
    ok, bad = await add(engine, 2)
    queue = Outbox(engine, owner="w1", sealer=SEALER)
    await queue.claim(10, 10_000, LEASE)
    await queue.ack([ok])
    refusal = "centre refused the record: record.nik: digits 7-12 (450590) encode 05-05-90"
    await queue.fail({bad: refusal})
    assert await states(engine) == {ok: "awaiting_decision", bad: "failed"}
    async with engine.connect() as conn:
        assert (await conn.execute(select(outbox))).all() == []
        error = (
            await conn.execute(select(records.c.last_error).where(records.c.id == bad))
        ).scalar_one()
    assert b"450590" not in error and b"refused" not in error  # sealed at rest
    assert SEALER.open_error(RECORD_ERROR, bad, error) == refusal


async def test_release_all_on_start_frees_leases_of_a_crashed_worker(engine: AsyncEngine) -> None:
    ids = await add(engine, 3)
    crashed = Outbox(engine, owner="dead", sealer=SEALER)
    assert len(await crashed.claim(10, 10_000, LEASE)) == 3
    fresh = Outbox(engine, owner="alive", sealer=SEALER)
    assert await fresh.release_all() == 3
    assert set((await states(engine)).values()) == {"queued"}
    assert [e.record_id for e in await fresh.claim(10, 10_000, LEASE)] == ids


async def test_release_gives_back_only_own_leases_without_counting(engine: AsyncEngine) -> None:
    [record_id] = await add(engine, 1)
    queue = Outbox(engine, owner="w1", sealer=SEALER)
    await queue.claim(10, 10_000, LEASE)
    await Outbox(engine, owner="other", sealer=SEALER).release([record_id])
    assert await queue.claim(10, 10_000, LEASE) == []
    await queue.release([record_id])
    [again] = await queue.claim(10, 10_000, LEASE)
    assert again.attempts == 0


async def test_concurrent_claims_never_hand_out_an_entry_twice(engine: AsyncEngine) -> None:
    await add(engine, 20)
    workers = [Outbox(engine, owner=f"w{i}", sealer=SEALER) for i in range(4)]
    batches = await asyncio.gather(*(w.claim(3, 10_000, LEASE) for w in workers for _ in range(3)))
    claimed = [e.record_id for b in batches for e in b]
    assert len(claimed) == len(set(claimed))


async def test_claim_hands_out_the_stored_json_as_it_was_stored(engine: AsyncEngine) -> None:
    await add(engine, 1)
    [entry] = await Outbox(engine, owner="w1", sealer=SEALER).claim(10, 10_000, LEASE)
    assert entry.payload_json == '{"x": 1}'  # text, to be spliced into the request unparsed


@pytest.mark.parametrize(
    ("sizes", "max_bytes"),
    [([100] * 6, 700), ([5000, 10, 10], 600), ([10, 5000, 10], 600), ([300, 300, 300], 10**6)],
)
async def test_the_byte_bound_in_sql_is_select_bounded(
    engine: AsyncEngine, sizes: list[int], max_bytes: int
) -> None:
    for i, size in enumerate(sizes):
        await add_one(engine, i, size)
    batch = await Outbox(engine, owner="w1", sealer=SEALER).claim(100, max_bytes, LEASE)
    expected = select_bounded([s + ITEM_OVERHEAD_BYTES for s in sizes], max_bytes)
    assert [e.payload_bytes for e in batch] == sizes[:expected]


async def test_reclaiming_an_expired_lease_leaves_the_uploading_record_as_it_is(
    engine: AsyncEngine,
) -> None:
    [record_id] = await add(engine, 1)
    queue = Outbox(engine, owner="w1", sealer=SEALER)
    await queue.claim(10, 10_000, LEASE)
    async with engine.begin() as conn:
        await conn.execute(update(outbox).values(lease_until=utcnow() - dt.timedelta(seconds=1)))
        before = (await conn.execute(select(records.c.updated_at))).scalar_one()
    [again] = await Outbox(engine, owner="w2", sealer=SEALER).claim(10, 10_000, LEASE)
    assert (again.record_id, json.loads(again.payload_json), again.submission_id) == (
        record_id,
        {"x": 1},
        "6172-r00000",
    )
    async with engine.connect() as conn:
        record = (await conn.execute(select(records.c.state, records.c.updated_at))).one()
        owner = (await conn.execute(select(outbox.c.lease_owner))).scalar_one()
    assert (record.state, record.updated_at, owner) == ("uploading", before, "w2")


async def test_many_concurrent_claimers_share_the_queue_without_overlap(
    engine: AsyncEngine,
) -> None:
    ids = await add(engine, 30)
    workers = [Outbox(engine, owner=f"w{i}", sealer=SEALER) for i in range(6)]
    batches = await asyncio.gather(*(w.claim(5, 10_000, LEASE) for w in workers))
    claimed = [e.record_id for b in batches for e in b]
    assert len(claimed) == len(set(claimed))
    # SKIP LOCKED may leave a claimer short, never with someone else's entry; the rest is
    # still there for the next round
    rest = await Outbox(engine, owner="late", sealer=SEALER).claim(100, 10**6, LEASE)
    assert sorted(claimed + [e.record_id for e in rest]) == ids


async def test_utc_timestamps_are_stored_as_sqlalchemys_sqlite_text(
    engine: AsyncEngine, db_url: str
) -> None:
    """The claim orders by this text; the fast bind must write exactly what SQLAlchemy wrote."""
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite stores timestamps as text")
    stamp = dt.datetime(2026, 11, 29, 7, 0, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    await add_one(engine, 0, 10, stamp)
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT enqueued_at FROM outbox"))).scalar_one()
    process = DateTime().dialect_impl(engine.dialect).bind_processor(engine.dialect)
    assert process is not None
    assert stored == process(stamp.astimezone(dt.UTC).replace(tzinfo=None))
    assert stored == "2026-11-29 00:00:00.000000"


async def test_a_claim_planned_generically_on_postgresql_reads_no_whole_outbox(
    pg_url: str,
) -> None:
    """asyncpg prepares every statement, and PostgreSQL plans a prepared statement generically
    (parameters unknown) after five runs: with a bound LIMIT it took a third of the queue as
    due and read the whole outbox (a sequential scan) to lease a batch. The claim, as the
    engine sends it, planned generically, goes by index at every step."""
    engine = create_engine(pg_url)
    try:
        await create_tables(engine)
        now = utcnow()
        rows = [
            {
                "id": f"r{i:06d}",
                **SEALER.record_columns(f"r{i:06d}", f"6172010605{i:06d}", '{"x": 1}'),
                "state": "queued",
                "in_flight": True,
                "submission_id": f"6172-r{i:06d}",
                "payload_bytes": 100,
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(QUEUED)
        ]
        async with engine.begin() as conn:  # a queue big enough for the plan to matter
            await conn.execute(records.insert(), rows)
            await conn.execute(
                text(
                    "INSERT INTO outbox (record_id, enqueued_at, next_attempt_at, attempts,"
                    " payload_bytes) SELECT id, created_at, created_at, 0, 100 FROM records"
                )
            )
            await conn.execute(text("ANALYZE"))
        sent: list[tuple[str, tuple[object, ...]]] = []

        def keep(
            conn: object, cursor: object, statement: str, parameters: object, *_: object
        ) -> None:
            if statement.lstrip().upper().startswith("UPDATE OUTBOX"):
                sent.append((statement, tuple(parameters)))

        event.listen(engine.sync_engine, "before_cursor_execute", keep)
        assert len(await Outbox(engine, "w", SEALER).claim(500, 10**9, LEASE)) == 500
        event.remove(engine.sync_engine, "before_cursor_execute", keep)
        [(statement, parameters)] = sent
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
            await conn.exec_driver_sql(f"PREPARE claim AS {statement}")
            arguments = ", ".join(_literal(p) for p in parameters)
            plan = "\n".join(
                row[0] for row in await conn.exec_driver_sql(f"EXPLAIN EXECUTE claim({arguments})")
            )
        assert "Seq Scan" not in plan, plan
        assert "outbox_pkey" in plan, plan  # the leased rows found by their key
    finally:
        await engine.dispose()


def _literal(value: object) -> str:
    """A parameter as SQL text, for EXECUTE (the statement's own casts give it its type)."""
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"
