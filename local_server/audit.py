"""The audit trail of the office node: who printed, retried or corrected which record, when.

An entry is written in the same transaction as the change it records (the store's `print`,
`resend` take the operator), so the trail never lacks a change nor holds one that did not
happen. Operators read it (`GET /api/v1/audit`); no route edits or deletes it. `audit` records
an action that has no transaction of its own (e.g. one the console adds).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import TYPE_CHECKING

from fastapi import Request
from pydantic import BaseModel, Field

from ektp_sync.domain.operators import Operator, Role
from ektp_sync.storage import utcnow

if TYPE_CHECKING:
    from local_server.store.audit import AuditTrail


class AuditAction(StrEnum):
    PRINT = "print"
    RETRY = "retry"
    CORRECT = "correct"


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


def trail_of(request: Request) -> AuditTrail:
    trail: AuditTrail = request.app.state.audit_trail
    return trail


async def audit(
    request: Request,
    operator: Operator,
    action: AuditAction | str,
    record_id: str | None,
    at: dt.datetime | None = None,
) -> None:
    """Record `operator` doing `action` to `record_id` now (its own transaction)."""
    await trail_of(request).record(operator, str(action), record_id, at or utcnow())
