"""The decisions feed's statement: an office's decision-log entries after a position."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncEngine

from central_server.store.sealed import CentreSealer, log_entry_id
from central_server.store.tables import decision_log
from ektp_sync.domain.decisions import DecisionReason, DecisionStatus
from ektp_sync.wire import Authorisation, Decision


@dataclass(frozen=True)
class LogPage:
    decisions: list[Decision]
    last_seq: int | None  # the log position of the last one; None when the page is empty


class FeedStore:
    def __init__(self, engine: AsyncEngine, sealer: CentreSealer) -> None:
        self._engine = engine
        self._sealer = sealer

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
        decisions = [self._decision(row) for row in rows]
        return LogPage(decisions, int(rows[-1].seq) if rows else None)

    def _decision(self, row: Row[Any]) -> Decision:
        entry = log_entry_id(row.submission_id, row.status)
        signed = self._sealer.open_json(
            "decision_log.authorisation", entry, row.authorisation_sealed
        )
        return Decision(
            submission_id=row.submission_id,
            nik=self._sealer.open_text("decision_log.nik", entry, row.nik_sealed),
            status=DecisionStatus(row.status),
            reason=DecisionReason(row.reason),
            authorisation=Authorisation(**signed) if signed else None,
        )
