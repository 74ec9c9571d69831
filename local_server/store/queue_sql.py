"""The queue's hot statements (lease the due entries, mark their records uploading, lock,
forget, accept), built once per dialect; `queue.Outbox` runs them.

Built once: SQLAlchemy then finds their compiled form by a memoised cache key, and a batch of ids
is one bound value (no 100-item IN list to render on every call). The byte bound of a claim is
computed in SQL (`_lease_due`) and, for the tests and the figures, in Python (`select_bounded`):
the same rule twice, one per side of the database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    delete,
    func,
    or_,
    select,
    type_coerce,
    update,
)

from ektp_sync.domain.states import RecordState
from ektp_sync.storage import IdList, UTCDateTime
from local_server.store.tables import outbox, records
from local_server.store.transitions import move

S = RecordState

#: a claim sends the record up; the centre's acceptance has it wait for a decision
_CLAIMED = move(S.UPLOADING)
_ACCEPTED = move(S.AWAITING_DECISION)

#: per-item JSON overhead next to the record itself (ids, office code, timestamps)
ITEM_OVERHEAD_BYTES = 256


def select_bounded(sizes: Sequence[int], max_bytes: int) -> int:
    """How many entries (oldest first) fit into `max_bytes`; always at least one."""
    total = 0
    for count, size in enumerate(sizes):
        total += size
        if total > max_bytes and count > 0:
            return count
    return len(sizes)


_NOW = bindparam("now", type_=UTCDateTime)
_CLAIM_ORDER = (outbox.c.enqueued_at, outbox.c.record_id)


class Statements(NamedTuple):
    """The hot path's statements, built once per dialect: SQLAlchemy then finds their compiled
    form by a memoised cache key, and a batch of ids is one bound value (no 100-item IN list to
    render on every call)."""

    lease_due: Any
    mark_uploading: Any
    lock: Any
    forget: Any
    accepted: Any


def _build(ids_in: Callable[[Any], Any]) -> Statements:
    return Statements(
        lease_due=_lease_due(),
        # every leased record comes back (an expired lease's record is already uploading);
        # only those that may become uploading change
        mark_uploading=(
            update(records)
            .where(ids_in(records.c.id))
            .values(
                **_CLAIMED.values_where_allowed,
                updated_at=_CLAIMED.when_allowed(_NOW, records.c.updated_at),
            )
            .returning(
                records.c.id,
                records.c.submission_id,
                records.c.created_at,
                records.c.payload_sealed,
            )
        ),
        # PostgreSQL locks the rows of a DELETE … = ANY(ids) in no fixed order; taking them in
        # id order first, as the decisions side does, leaves no order to deadlock on
        lock=(
            select(outbox.c.record_id)
            .where(ids_in(outbox.c.record_id))
            .order_by(outbox.c.record_id)
            .with_for_update()
        ),
        forget=delete(outbox).where(ids_in(outbox.c.record_id)),
        # one statement per batch: count the attempt, and move on only if still uploading (a
        # decision may already have overtaken the acknowledgement)
        accepted=(
            update(records)
            .where(ids_in(records.c.id))
            .values(
                attempts=records.c.attempts + 1,
                updated_at=_NOW,
                **_ACCEPTED.values_where_allowed,
                # a decision may have overtaken this answer: it was still sent now (its wait
                # for the decision then counts as none)
                sent_at=func.coalesce(records.c.sent_at, _NOW),
            )
        ),
    )


def _lease_due() -> Any:
    """UPDATE … RETURNING that leases the oldest due entries fitting `max_bytes` (at least one).

    The byte bound is `select_bounded` in SQL: a running total over the due entries in claim
    order, so choosing and leasing is one statement. PostgreSQL: concurrent claimers skip each
    other's rows (SKIP LOCKED in the inner select); SQLite ignores it and serialises writers with
    BEGIN IMMEDIATE instead, so one statement serves both.
    """
    due = (
        select(outbox.c.record_id, outbox.c.payload_bytes, outbox.c.enqueued_at)
        .where(
            outbox.c.next_attempt_at <= _NOW,
            or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < _NOW),
        )
        .order_by(*_CLAIM_ORDER)
        # the batch's size written into the SQL, not bound: PostgreSQL plans a prepared statement
        # (asyncpg prepares every one) generically after five runs, and with the LIMIT unknown
        # it guessed a third of the queue was due and read the whole outbox to update 500 rows
        # (137,533 queued: 31 ms against 5). One statement per batch size: the node has two (its
        # batch, and a probe's one record).
        .limit(bindparam("max_items", type_=Integer, literal_execute=True))
        .with_for_update(skip_locked=True)
        .subquery("due")
    )
    order = (due.c.enqueued_at, due.c.record_id)
    running = select(
        due.c.record_id,
        func.sum(due.c.payload_bytes + ITEM_OVERHEAD_BYTES)
        .over(order_by=order, rows=(None, 0))
        .label("running_bytes"),
        func.row_number().over(order_by=order).label("position"),
    ).subquery("running")
    chosen = select(running.c.record_id).where(
        or_(
            running.c.running_bytes <= bindparam("max_bytes", type_=Integer),
            running.c.position == 1,
        )
    )
    return (
        update(outbox)
        .where(outbox.c.record_id.in_(chosen))
        .values(lease_until=bindparam("until", type_=UTCDateTime), lease_owner=bindparam("owner"))
        .returning(
            outbox.c.record_id,
            outbox.c.attempts,
            outbox.c.payload_bytes,
            # only to sort by, so unparsed: SQLite's fixed-width text sorts as its ORDER BY does
            type_coerce(outbox.c.enqueued_at, String),
        )
    )


def claim_order(leased: Any) -> tuple[Any, str]:
    """A leased row's place in the claim (enqueued_at, record_id: what the claim's ORDER BY
    says), to sort what RETURNING gave back in no order."""
    return leased[3], leased[0]


_SQLITE = _build(IdList(sqlite=True).matches)
_POSTGRESQL = _build(IdList(sqlite=False).matches)


def statements(sqlite: bool) -> Statements:
    return _SQLITE if sqlite else _POSTGRESQL
