"""What the operator's figures read from the node's database: the bytes still to send, a
record's place in the upload queue, and how long the centre has been taking to decide.

Bytes are counted as the pusher sends them and the link's rate is measured: a record's stored
JSON plus its item envelope (`ClaimedEntry.size`), before gzip. So bytes ÷ rate is seconds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ektp_sync.domain.decisions import DecisionReason
from local_server.store.packets import bytes_waiting
from local_server.store.queue_sql import ITEM_OVERHEAD_BYTES
from local_server.store.tables import outbox, records

#: the latest decisions whose waits make the centre's typical decision time
DECISION_SAMPLE = 200

_ENTRY_BYTES = outbox.c.payload_bytes + ITEM_OVERHEAD_BYTES


@dataclass(frozen=True)
class Backlog:
    """What still has to go up: entries of the upload queue and their bytes."""

    records: int
    bytes: int


@dataclass(frozen=True)
class Place:
    """A record's place in the upload queue (1 = next) and the bytes up to and including it."""

    position: int
    bytes_through: int


async def bytes_to_send(conn: AsyncConnection) -> tuple[int, int]:
    """(entries, bytes) of everything still to send: the records' cores, as the pusher sends them.

    The one place that says how much is waiting: attachments sent apart from the core (heavy
    packets) add their bytes still to transfer here, and every figure follows (/status,
    /metrics, the estimates).
    """
    row = (await conn.execute(select(func.count(), func.sum(_ENTRY_BYTES)))).one()
    packets = await bytes_waiting(conn)
    return int(row[0]), int(row[1] or 0) + packets.bytes_waiting


class FigureStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def backlog(self) -> Backlog:
        async with self._engine.connect() as conn:
            entries, size = await bytes_to_send(conn)
        return Backlog(entries, size)

    async def place(self, record_id: str) -> Place | None:
        """Where the record stands in claim order (oldest recorded first); None once it left the
        queue. A record backing off after an error of the centre keeps its place: the estimate
        ignores its wait (the link's outages are what usually hold a backlog up)."""
        async with self._engine.connect() as conn:
            mine = (
                await conn.execute(
                    select(outbox.c.enqueued_at).where(outbox.c.record_id == record_id)
                )
            ).one_or_none()
            if mine is None:
                return None
            enqueued_at = mine[0]
            ahead = or_(
                outbox.c.enqueued_at < enqueued_at,
                and_(outbox.c.enqueued_at == enqueued_at, outbox.c.record_id <= record_id),
            )
            row = (
                await conn.execute(select(func.count(), func.sum(_ENTRY_BYTES)).where(ahead))
            ).one()
        return Place(int(row[0]), int(row[1] or 0))

    async def decision_waits(self, sample: int = DECISION_SAMPLE) -> list[float]:
        """Seconds from the centre's acceptance to the decision reaching the node, for the latest
        `sample` records decided that way (adjudications left out: they wait for a person)."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(records.c.sent_at, records.c.decided_at)
                    .where(
                        records.c.sent_at.is_not(None),
                        records.c.decided_at.is_not(None),
                        or_(
                            records.c.decision_reason.is_(None),
                            records.c.decision_reason != DecisionReason.ADJUDICATED.value,
                        ),
                    )
                    .order_by(records.c.decided_at.desc())
                    .limit(sample)
                )
            ).all()
        return [_seconds(sent, decided) for sent, decided in rows]


def _seconds(start: dt.datetime, end: dt.datetime) -> float:
    return max(0.0, (end - start).total_seconds())
