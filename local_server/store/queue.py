"""The upload queue of the office node: every statement that writes the queue lives here or,
for the hot path (claim, ack), in `queue_sql`, built once per dialect.

enqueue → claim (with a lease) → ack (accepted) | fail (invalid) | retry_later | release.
Each method of `Outbox` is one short transaction, so callers never hold a connection while they
talk to the centre (SQLite has one pooled connection per process). Only one sync worker may run
per local database: `release_all` at start assumes every lease left behind belongs to a dead
process. The records' state follows each step, through the moves of `transitions`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ektp_sync.domain.states import RecordState
from ektp_sync.storage import IdList, utcnow
from local_server.store.queue_sql import ITEM_OVERHEAD_BYTES, claim_order, statements
from local_server.store.sealed import QUEUE_ERROR, RECORD_ERROR, NodeSealer
from local_server.store.tables import outbox, records
from local_server.store.transitions import move

S = RecordState

#: the centre's refusal fails a record; a link fault, a shutdown or a crash gives it back to the
#: queue (never a failed record: only an operator may); claim and acceptance are in `queue_sql`
_REFUSED = move(S.FAILED)
_REQUEUED = move(S.QUEUED, only_from=[S.UPLOADING])


@dataclass(frozen=True)
class ClaimedEntry:
    record_id: str
    submission_id: str
    recorded_at: dt.datetime
    attempts: int
    payload_json: str  # the record as stored: can go into a request body without a parse
    payload_bytes: int

    @property
    def size(self) -> int:
        return self.payload_bytes + ITEM_OVERHEAD_BYTES


@dataclass(frozen=True)
class Retry:
    """Why and when one entry goes back to the queue."""

    record_id: str
    error: str
    next_attempt_at: dt.datetime


#: queues one record (parameters: `queue_entry`), in the transaction that stores or re-queues it
ENQUEUE = insert(outbox)


def queue_entry(record_id: str, payload_bytes: int, now: dt.datetime) -> dict[str, Any]:
    """The queue entry of a record due at once: the parameters of `ENQUEUE`."""
    return {
        "record_id": record_id,
        "enqueued_at": now,
        "next_attempt_at": now,
        "attempts": 0,
        "payload_bytes": payload_bytes,
    }


async def enqueue(conn: AsyncConnection, record_id: str, payload_bytes: int) -> None:
    """Queue a record for upload inside the caller's transaction (the one that stored it)."""
    await conn.execute(ENQUEUE, queue_entry(record_id, payload_bytes, utcnow()))


async def enqueue_many(conn: AsyncConnection, entries: Sequence[tuple[str, int]]) -> None:
    """Queue several records (record id, payload bytes) in one statement (bulk imports)."""
    if not entries:
        return
    now = utcnow()
    await conn.execute(ENQUEUE, [queue_entry(rid, size, now) for rid, size in entries])


class Outbox:
    """Queue operations over an engine; one transaction per call."""

    def __init__(self, engine: AsyncEngine, owner: str, sealer: NodeSealer) -> None:
        self._engine = engine
        self.owner = owner  # lease owner: this worker
        self._sealer = sealer  # opens the payloads it hands out
        ids = IdList.of(engine)
        self._sql = statements(ids.sqlite)
        self._ids = ids.bind

    async def claim(
        self, max_items: int, max_bytes: int, lease_seconds: float
    ) -> list[ClaimedEntry]:
        """Lease the oldest due entries (bounded by count and bytes); mark the records uploading."""
        now = utcnow()
        async with self._engine.begin() as conn:
            # queue entry first, then record: the same lock order everywhere (no deadlocks)
            leased = (
                await conn.execute(
                    self._sql.lease_due,
                    {
                        "now": now,
                        "max_items": max_items,
                        "max_bytes": max_bytes,
                        "until": now + dt.timedelta(seconds=lease_seconds),
                        "owner": self.owner,
                    },
                )
            ).all()
            if not leased:
                return []
            params = {"ids": self._ids([row[0] for row in leased]), "now": now}
            found = {row[0]: row for row in await conn.execute(self._sql.mark_uploading, params)}
        # RETURNING keeps no order: hand the batch out oldest first, as it was chosen
        claimed = []
        for record_id, attempts, payload_bytes, _ in sorted(leased, key=claim_order):
            if (record := found.get(record_id)) is not None:
                _, submission_id, created_at, sealed = record
                payload = self._sealer.open_payload(record_id, sealed)
                claimed.append(
                    ClaimedEntry(
                        record_id, submission_id, created_at, attempts, payload, payload_bytes
                    )
                )
        return claimed

    async def ack(self, record_ids: Sequence[str]) -> None:
        """The centre accepted these: forget the entries, await the decision."""
        if not record_ids:
            return
        params = {"ids": self._ids(record_ids), "now": utcnow()}
        async with self._engine.begin() as conn:
            # queue entries first (in id order), then records: the order of every writer
            await conn.execute(self._sql.lock, params)
            await conn.execute(self._sql.forget, params)
            await conn.execute(self._sql.accepted, params)

    async def fail(self, failures: dict[str, str]) -> None:
        """The centre refused these for good (invalid): an operator has to look at them."""
        if not failures:
            return
        now = utcnow()
        async with self._engine.begin() as conn:
            await conn.execute(self._sql.lock, {"ids": self._ids(list(failures))})
            await forget_entries(conn, list(failures))
            await self._count_attempts(conn, failures, now, **_REFUSED.values_where_allowed)

    async def retry_later(
        self, record_ids: Sequence[str], error: str, delay_for: Callable[[int], float]
    ) -> list[Retry]:
        """Count a failed attempt; schedule the next one `delay_for(attempts)` seconds from now.

        The delay is computed from the persisted attempt count, so a restarted node keeps
        backing off where the previous process left off.
        """
        if not record_ids:
            return []
        now = utcnow()
        retries: list[Retry] = []
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(outbox.c.record_id, outbox.c.attempts)
                    .where(outbox.c.record_id.in_(record_ids))
                    .order_by(outbox.c.record_id)
                    .with_for_update()
                )
            ).all()
            for row in rows:
                when = now + dt.timedelta(seconds=delay_for(row.attempts + 1))
                retries.append(Retry(row.record_id, error, when))
            if not rows:
                return []
            # each entry has its own (jittered) time and its own seal of the error (bound to its
            # row): one executemany per table, not a statement per row
            seal = self._sealer.seal_error
            await conn.execute(
                update(outbox)
                .where(outbox.c.record_id == bindparam("b_id"))
                .values(
                    attempts=outbox.c.attempts + 1,
                    last_error=bindparam("b_error"),
                    next_attempt_at=bindparam("b_when"),
                    lease_until=None,
                    lease_owner=None,
                ),
                [
                    {
                        "b_id": r.record_id,
                        "b_when": r.next_attempt_at,
                        "b_error": seal(QUEUE_ERROR, r.record_id, error),
                    }
                    for r in retries
                ],
            )
            # counted and back in the queue in one statement (an uploading record only)
            await self._count_attempts(
                conn,
                dict.fromkeys((r.record_id for r in rows), error),
                now,
                **_REQUEUED.values_where_allowed,
            )
        return retries

    async def _count_attempts(
        self, conn: AsyncConnection, errors: dict[str, str], now: dt.datetime, **values: Any
    ) -> None:
        """Each record's failed attempt counted, with why (sealed, bound to its row), and
        `values` (a move, say): one executemany, not a statement per record."""
        await conn.execute(
            update(records)
            .where(records.c.id == bindparam("b_id"))
            .values(
                attempts=records.c.attempts + 1,
                last_error=bindparam("b_error"),
                updated_at=now,
                **values,
            ),
            [
                {"b_id": rid, "b_error": self._sealer.seal_error(RECORD_ERROR, rid, error)}
                for rid, error in errors.items()
            ],
        )

    async def release(self, record_ids: Sequence[str]) -> None:
        """Give leased entries back untouched (shutdown): no attempt is counted."""
        if not record_ids:
            return
        async with self._engine.begin() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.record_id.in_(record_ids), outbox.c.lease_owner == self.owner)
                .values(lease_until=None, lease_owner=None)
            )
            await _requeue_records(conn, record_ids, utcnow())

    async def release_all(self) -> int:
        """At start: leases left by a crashed process are void (one worker per database)."""
        async with self._engine.begin() as conn:
            leased = (
                (
                    await conn.execute(
                        select(outbox.c.record_id).where(outbox.c.lease_until.is_not(None))
                    )
                )
                .scalars()
                .all()
            )
            await conn.execute(
                update(outbox)
                .where(outbox.c.lease_until.is_not(None))
                .values(lease_until=None, lease_owner=None)
            )
            # records marked uploading without a live lease are just queued again
            stale = select(outbox.c.record_id).scalar_subquery()
            await conn.execute(
                update(records)
                .where(_REQUEUED.allowed, records.c.id.in_(stale))
                .values(**_REQUEUED.values, updated_at=utcnow())
            )
        return len(leased)


async def lock_entries(conn: AsyncConnection, record_ids: Sequence[str]) -> None:
    """Lock these records' queue entries, in id order: the order of every writer of the queue,
    so writers of the queue and of the records (the decisions side) never deadlock."""
    await conn.execute(
        select(outbox.c.record_id)
        .where(outbox.c.record_id.in_(record_ids))
        .order_by(outbox.c.record_id)
        .with_for_update()
    )


async def forget_entries(conn: AsyncConnection, record_ids: Sequence[str]) -> None:
    """The centre answered for these records (or decided them first): no more uploads."""
    await conn.execute(delete(outbox).where(outbox.c.record_id.in_(record_ids)))


async def _requeue_records(
    conn: AsyncConnection, record_ids: Sequence[str], now: dt.datetime
) -> None:
    await conn.execute(
        update(records)
        .where(records.c.id.in_(record_ids), _REQUEUED.allowed)
        .values(**_REQUEUED.values, updated_at=now)
    )
