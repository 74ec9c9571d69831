"""The decisions side of the local node's storage: cursor, pinned key, applying decisions.

Decisions and the cursor that follows them are committed in one transaction, so a crash
between the two can neither lose a decision nor apply one twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ektp_sync.domain.states import RecordState, can_transition
from ektp_sync.node_tables import outbox, records, sync_state
from ektp_sync.storage import utcnow
from ektp_sync.wire import Decision

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
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, key: str) -> str | None:
        async with self._engine.connect() as conn:
            return await read_value(conn, key)

    async def pin_public_key(self, key_b64: str) -> str:
        """Pin the centre's key on first contact; return the key pinned (maybe an older one)."""
        async with self._engine.begin() as conn:
            pinned = await read_value(conn, PUBLIC_KEY_KEY)
            if pinned is None:
                await write_value(conn, PUBLIC_KEY_KEY, key_b64)
                return key_b64
            return pinned

    async def apply(self, decisions: Sequence[Decision], next_cursor: str) -> int:
        """Apply a page of decisions in order and move the cursor; return how many applied."""
        applied = 0
        now = utcnow()
        async with self._engine.begin() as conn:
            for decision in decisions:
                if await _apply_one(conn, decision, now):
                    applied += 1
            await write_value(conn, CURSOR_KEY, next_cursor)
        return applied


async def _apply_one(conn: AsyncConnection, decision: Decision, now: dt.datetime) -> bool:
    found = await conn.execute(
        select(records.c.id).where(records.c.submission_id == decision.submission_id)
    )
    record_id = found.scalar_one_or_none()
    if record_id is None:
        logger.warning("decision for unknown submission %s skipped", decision.submission_id)
        return False
    # lock the queue entry, then the record — the pusher's order — so that a concurrent claim
    # can neither move the state under us (lost update) nor deadlock with us (PostgreSQL)
    await conn.execute(
        select(outbox.c.record_id).where(outbox.c.record_id == record_id).with_for_update()
    )
    row = (
        await conn.execute(
            select(records.c.id, records.c.state).where(records.c.id == record_id).with_for_update()
        )
    ).one()
    current = RecordState(row.state)
    target = RecordState(decision.status.value)
    if not can_transition(current, target):
        # a repeated feed entry, or a record already printed/failed: nothing to change
        logger.info(
            "decision %s for %s ignored: record is %s", target, decision.submission_id, current
        )
        return False
    authorisation = (
        decision.authorisation.model_dump_json() if decision.authorisation is not None else None
    )
    result = await conn.execute(
        update(records)
        .where(records.c.id == row.id, records.c.state == current.value)
        .values(
            state=target.value,
            decision_status=decision.status.value,
            decision_reason=decision.reason.value,
            authorisation=authorisation,
            decided_at=now,
            updated_at=now,
            last_error=None,
        )
    )
    # the decision overtook the upload acknowledgement: the queue entry has served its purpose
    await conn.execute(delete(outbox).where(outbox.c.record_id == row.id))
    return bool(result.rowcount)
