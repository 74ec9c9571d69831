"""Group commit on SQLite and PostgreSQL: concurrent recordings share one durable commit, each
is stored exactly once with its queue entry, and a member that fails fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from ektp_sync.storage import utcnow
from ektp_sync.wire import ResidentRecord
from local_server.errors import NikInFlight
from local_server.service import new_record_id, new_submission_id
from local_server.store import NodeStore
from local_server.store.group_commit import GroupCommit
from local_server.store.queue import ENQUEUE, queue_entry
from local_server.store.records import RecordStore, new_record_row
from local_server.store.tables import outbox, records

from .residents import resident
from .sealing import KEY, SEALER


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[NodeStore]:
    store = NodeStore.open(db_url, KEY)
    await store.migrate()
    yield store
    await store.close()


async def add(store: NodeStore, serial: int) -> str:
    record_id = new_record_id()
    resident_record = ResidentRecord.model_validate(resident(serial))
    await store.records.add(record_id, new_submission_id("6172"), resident_record, utcnow())
    return record_id


async def stored_ids(store: NodeStore) -> tuple[list[str], list[str]]:
    """Ids of the records and of the queue entries, as the database holds them."""
    async with store.engine.connect() as conn:
        ids = (await conn.execute(select(records.c.id))).scalars().all()
        queued = (await conn.execute(select(outbox.c.record_id))).scalars().all()
    return list(ids), list(queued)


async def test_concurrent_recordings_share_one_commit_each_stored_once(store: NodeStore) -> None:
    ids = await asyncio.gather(*(add(store, serial) for serial in range(1, 61)))
    in_db, queued = await stored_ids(store)
    assert sorted(in_db) == sorted(ids)  # every one, exactly once (ids are the primary key)
    assert sorted(queued) == sorted(ids)  # each with its queue entry
    assert store.commits.writes == 60
    # all 60 were waiting when the first transaction began: one commit for them all
    assert store.commits.groups == 1


async def test_the_answer_is_the_record_as_stored(store: NodeStore) -> None:
    record_id = new_record_id()
    body = ResidentRecord.model_validate(resident(7))
    answered = await store.records.add(record_id, new_submission_id("6172"), body, utcnow())
    assert answered == await store.records.view(record_id)


async def test_a_nik_in_flight_fails_alone_in_its_group(store: NodeStore) -> None:
    serials = [1, 2, 3, 1, 4, 5]  # the second recording of serial 1 meets the first in flight
    outcomes = await asyncio.gather(*(add(store, s) for s in serials), return_exceptions=True)
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failed) == 1 and isinstance(failed[0], NikInFlight)
    assert isinstance(outcomes[0], str) and outcomes[3] is failed[0]  # the first one won
    stored = [o for o in outcomes if isinstance(o, str)]
    in_db, queued = await stored_ids(store)
    assert sorted(in_db) == sorted(stored) == sorted(queued)
    assert store.commits.groups == 1 and store.commits.writes == 5


async def test_a_write_failing_half_way_is_rolled_back_alone(store: NodeStore) -> None:
    """A member whose second statement fails leaves nothing of itself; the others commit."""
    commits = GroupCommit(store.engine)
    now = utcnow()
    rows = [
        new_record_row(f"r{n}", f"s{n}", ResidentRecord.model_validate(resident(n)), now, SEALER)
        for n in range(1, 4)
    ]
    writes = [
        [(insert(records), row), (ENQUEUE, queue_entry(str(row["id"]), 10, now))] for row in rows
    ]
    # the second one's queue entry points at no record: the foreign key refuses it
    writes[1][1] = (ENQUEUE, queue_entry("no-such-record", 10, now))
    try:
        outcomes = await asyncio.gather(
            *(commits.write(write) for write in writes), return_exceptions=True
        )
    finally:
        await commits.close()
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], IntegrityError)
    in_db, queued = await stored_ids(store)
    assert sorted(in_db) == sorted(queued) == ["r1", "r3"]
    assert (commits.groups, commits.writes) == (1, 2)


async def test_a_lone_write_that_fails_leaves_nothing(store: NodeStore) -> None:
    """Alone in its transaction (no savepoint), a write's error rolls the transaction back."""
    await add(store, 1)
    with pytest.raises(NikInFlight):
        await add(store, 1)
    in_db, queued = await stored_ids(store)
    assert len(in_db) == len(queued) == 1
    async with store.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(records)) == 1
    # the store still takes recordings after the failure
    await add(store, 2)
    assert len((await stored_ids(store))[0]) == 2


async def test_bursts_beyond_the_group_limit_are_split(store: NodeStore) -> None:
    commits = GroupCommit(store.engine, max_group=8)
    small = RecordStore(store.engine, commits, SEALER)
    bodies = [ResidentRecord.model_validate(resident(serial)) for serial in range(1, 21)]
    try:
        ids = [new_record_id() + f"{n:02d}" for n in range(20)]
        await asyncio.gather(
            *(
                small.add(i, new_submission_id("6172"), b, utcnow())
                for i, b in zip(ids, bodies, strict=True)
            )
        )
    finally:
        await commits.close()
    assert sorted((await stored_ids(store))[1]) == sorted(ids)
    assert (commits.groups, commits.writes) == (3, 20)


async def test_over_http_only_the_duplicate_is_refused(node: httpx.AsyncClient) -> None:
    """Concurrent POST /records: ten 201s and one 409 (its NIK in flight), nothing else lost."""
    bodies = [resident(serial) for serial in range(1, 11)] + [resident(5)]
    responses = await asyncio.gather(*(node.post("/records", json=body) for body in bodies))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * 10 + [409]
    refused = next(r for r in responses if r.status_code == 409)
    assert refused.json()["rule"] == "nik_in_flight"
    created = {_identity(r.json()) for r in responses if r.status_code == 201}
    listed = (await node.get("/records", params={"limit": 50})).json()["records"]
    assert {_identity(r) for r in listed} == created  # the 201s said what was stored
    assert (await node.get("/status")).json()["pending"] == 10


def _identity(view: dict[str, object]) -> tuple[object, ...]:
    """What a record keeps whatever the (unreachable) centre's link does with it."""
    return view["id"], view["nik"], view["submission_id"], view["created_at"]


async def test_a_caller_gone_before_its_group_began_writes_nothing(store: NodeStore) -> None:
    bodies = [ResidentRecord.model_validate(resident(serial)) for serial in (1, 2)]
    kept, dropped = (
        asyncio.create_task(store.records.add(f"r{n}", f"s{n}", body, utcnow()))
        for n, body in enumerate(bodies)
    )
    await asyncio.sleep(0)  # both wait for the group, which has not begun yet
    dropped.cancel()  # the request went away
    await kept
    with pytest.raises(asyncio.CancelledError):
        await dropped
    assert await stored_ids(store) == (["r0"], ["r0"])
