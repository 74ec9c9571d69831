"""The decisions side of the office node's store: cursor, pinned key, applying decisions.

Decisions and the cursor that follows them are committed in one transaction, so a crash
between the two can neither lose a decision nor apply one twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ektp_sync.domain.states import RecordState
from ektp_sync.storage import utcnow
from ektp_sync.wire import Decision
from local_server.store.queue import forget_entries, lock_entries
from local_server.store.sealed import RECORD_ERROR, NodeSealer
from local_server.store.tables import records, sync_state
from local_server.store.transitions import in_flight_of, move

logger = logging.getLogger(__name__)

CURSOR_KEY = "decisions_cursor"
PUBLIC_KEY_KEY = "central_public_key"


async def read_value(conn: AsyncConnection, key: str) -> str | None:
    row = await conn.execute(select(sync_state.c.value).where(sync_state.c.key == key))
    return row.scalar_one_or_none()


async def write_value(conn: AsyncConnection, key: str, value: str) -> None:
    result = await conn.execute(
        update(sync_state).where(sync_state.c.key == key).values(value=value)
    )
    if not result.rowcount:
        await conn.execute(insert(sync_state).values(key=key, value=value))


class Inbox:
    def __init__(self, engine: AsyncEngine, sealer: NodeSealer) -> None:
        self._engine = engine
        self._sealer = sealer  # seals the authorisations it stores

    async def get(self, key: str) -> str | None:
        async with self._engine.connect() as conn:
            return await read_value(conn, key)

    async def set(self, key: str, value: str) -> None:
        async with self._engine.begin() as conn:
            await write_value(conn, key, value)

    async def pin_public_key(self, key_b64: str) -> str:
        """Pin the centre's key on first contact; return the key pinned (maybe an older one)."""
        async with self._engine.begin() as conn:
            pinned = await read_value(conn, PUBLIC_KEY_KEY)
            if pinned is None:
                await write_value(conn, PUBLIC_KEY_KEY, key_b64)
                return key_b64
            return pinned

    async def apply(
        self,
        decisions: Sequence[Decision],
        next_cursor: str,
        refused: Mapping[str, str] | None = None,
    ) -> int:
        """Apply a page of decisions in order and move the cursor; return how many applied.

        `refused` (submission id → why) are decisions not to apply (their signature did not
        verify): their records keep state and queue entry, with the reason in `last_error`.

        A constant number of statements per page, not per decision: during a backlog drain the
        feed delivers pages of hundreds, and one round trip per decision was a third of the
        node's busy time (docs/performance.md).
        """
        now = utcnow()
        async with self._engine.begin() as conn:
            applied = await _apply_page(conn, decisions, now, self._sealer)
            if refused:
                await _note_refused(conn, refused, now, self._sealer)
            await write_value(conn, CURSOR_KEY, next_cursor)
        return applied


@dataclass
class _Target:
    """A record's row as the page leaves it: the last decision applied wins."""

    record_id: str
    was: RecordState
    state: RecordState
    decision: Decision | None = None


async def _apply_page(
    conn: AsyncConnection, decisions: Sequence[Decision], now: dt.datetime, sealer: NodeSealer
) -> int:
    submission_ids = sorted({d.submission_id for d in decisions})
    if not submission_ids:
        return 0
    found = await conn.execute(
        select(records.c.id, records.c.submission_id).where(
            records.c.submission_id.in_(submission_ids)
        )
    )
    by_submission = {row.submission_id: row.id for row in found}
    record_ids = sorted(by_submission.values())
    # lock the queue entries, then the records — the pusher's order, each in id order — so a
    # concurrent claim can neither move a state under us (lost update) nor deadlock with us
    if record_ids:
        await lock_entries(conn, record_ids)
        locked = await conn.execute(
            select(records.c.id, records.c.state)
            .where(records.c.id.in_(record_ids))
            .order_by(records.c.id)
            .with_for_update()
        )
        targets = {
            row.id: _Target(row.id, RecordState(row.state), RecordState(row.state))
            for row in locked
        }
    else:
        targets = {}
    applied = 0
    for decision in decisions:  # in feed order: a review and its adjudication may share a page
        record_id = by_submission.get(decision.submission_id)
        if record_id is None:
            logger.warning(
                "decision for an unknown submission skipped",
                extra={"submission_id": decision.submission_id},
            )
            continue
        target = targets[record_id]
        wanted = RecordState(decision.status.value)
        if not move(wanted).permits(target.state):
            # a repeated feed entry, or a record already printed/failed: nothing to change
            logger.info(
                "decision %s ignored: the record is %s",
                wanted,
                target.state,
                extra={"record_id": record_id, "submission_id": decision.submission_id},
            )
            continue
        target.state, target.decision = wanted, decision
        applied += 1
    changed = [t for t in targets.values() if t.decision is not None]
    if not changed:
        return 0
    # every move was checked above, in feed order, on rows this transaction holds locked
    await conn.execute(
        update(records)
        .where(records.c.id == bindparam("b_id"), records.c.state == bindparam("b_was"))
        .values(
            state=bindparam("b_state"),
            in_flight=bindparam("b_in_flight"),
            decision_status=bindparam("b_status"),
            decision_reason=bindparam("b_reason"),
            authorisation_sealed=bindparam("b_authorisation"),
            decided_at=now,
            updated_at=now,
            last_error=None,
        ),
        [_row_of(t, sealer) for t in changed],
    )
    # a decision that overtook the upload acknowledgement: the queue entry has served its purpose
    await forget_entries(conn, [t.record_id for t in changed])
    return applied


async def _note_refused(
    conn: AsyncConnection, refused: Mapping[str, str], now: dt.datetime, sealer: NodeSealer
) -> None:
    """The reason a decision was not applied, on its record (state and queue entry unchanged),
    sealed under the record's id (hence looked up first)."""
    found = await conn.execute(
        select(records.c.id, records.c.submission_id)
        .where(records.c.submission_id.in_(list(refused)))
        .order_by(records.c.id)
    )
    notes = []
    for row in found:
        why = f"decision from the centre not applied: {refused[row.submission_id]}"
        notes.append({"b_id": row.id, "b_reason": sealer.seal_error(RECORD_ERROR, row.id, why)})
    if notes:
        await conn.execute(
            update(records)
            .where(records.c.id == bindparam("b_id"))
            .values(last_error=bindparam("b_reason"), updated_at=now),
            notes,
        )


def _row_of(target: _Target, sealer: NodeSealer) -> dict[str, str | bytes | bool | None]:
    decision = target.decision
    assert decision is not None
    authorisation = decision.authorisation
    sealed = (
        sealer.seal_authorisation(target.record_id, authorisation.model_dump_json())
        if authorisation
        else None
    )
    return {
        "b_id": target.record_id,
        "b_was": target.was.value,
        "b_state": target.state.value,
        "b_in_flight": in_flight_of(target.state),
        "b_status": decision.status.value,
        "b_reason": decision.reason.value,
        "b_authorisation": sealed,
    }
