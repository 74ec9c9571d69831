"""The decisions feed's statement: an office's decision-log entries after a position."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from central_server.store.tables import decision_log
from ektp_sync.domain.decisions import DecisionReason, DecisionStatus
from ektp_sync.wire import Authorisation, Decision


@dataclass(frozen=True)
class LogPage:
    decisions: list[Decision]
    last_seq: int | None  # the log position of the last one; None when the page is empty


class FeedStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def after(self, office_code: str, seq: int, limit: int) -> LogPage:
        """Up to `limit` of the office's decisions logged after position `seq`, in log order."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(decision_log)
                    .where(decision_log.c.office_code == office_code, decision_log.c.seq > seq)
                    .order_by(decision_log.c.seq)
                    .limit(limit)
                )
            ).all()
        decisions = [
            Decision(
                submission_id=row.submission_id,
                nik=row.nik,
                status=DecisionStatus(row.status),
                reason=DecisionReason(row.reason),
                authorisation=Authorisation(**row.authorisation) if row.authorisation else None,
            )
            for row in rows
        ]
        return LogPage(decisions, int(rows[-1].seq) if rows else None)
