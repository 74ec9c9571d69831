"""The audit trail's rows: appended (alone, or inside the transaction of the change they
record) and read newest first. Nothing here updates or deletes one."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ektp_sync.domain.operators import Operator, Role
from local_server.store.tables import audit_trail


class AuditEntry(BaseModel):
    """One action of an operator, as the trail keeps it."""

    id: int = Field(description="Position in the trail (increasing).")
    at: dt.datetime
    operator: str
    role: Role
    action: str = Field(description="print, retry, correct (or another the node records)")
    record_id: str | None


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    next_cursor: str | None = Field(description="Give as `after` for the next (older) page.")


async def write_entry(
    conn: AsyncConnection, operator: Operator, action: str, record_id: str | None, at: dt.datetime
) -> None:
    """Append an entry in the caller's transaction (it commits or rolls back with the change)."""
    await conn.execute(
        insert(audit_trail).values(
            at=at,
            operator=operator.name,
            role=operator.role.value,
            action=action,
            record_id=record_id,
        )
    )


class AuditTrail:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(
        self, operator: Operator, action: str, record_id: str | None, at: dt.datetime
    ) -> None:
        async with self._engine.begin() as conn:
            await write_entry(conn, operator, action, record_id, at)

    async def page(
        self, limit: int, before: int | None = None, record_id: str | None = None
    ) -> tuple[list[AuditEntry], bool]:
        """Up to `limit` entries, newest first (older than the id `before`); whether more
        follow."""
        query = select(audit_trail).order_by(audit_trail.c.id.desc()).limit(limit + 1)
        if before is not None:
            query = query.where(audit_trail.c.id < before)
        if record_id is not None:
            query = query.where(audit_trail.c.record_id == record_id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        entries = [AuditEntry.model_validate(dict(row._mapping)) for row in rows[:limit]]
        return entries, len(rows) > limit
