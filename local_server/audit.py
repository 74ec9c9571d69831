"""The audit trail of the office node: who printed, retried or corrected which record, when.

An entry is written in the same transaction as the change it records (the store's `print`,
`resend` take the operator), so the trail never lacks a change nor holds one that did not
happen. Operators read it (`GET /api/v1/audit`); no route edits or deletes it. `audit` records
an action that has no transaction of its own (e.g. one the console adds).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from fastapi import Request

from ektp_sync.domain.operators import Operator
from ektp_sync.storage import utcnow
from local_server.store.audit import AuditEntry, AuditPage, AuditTrail

__all__ = ["AuditAction", "AuditEntry", "AuditPage", "audit", "trail_of"]


class AuditAction(StrEnum):
    PRINT = "print"
    RETRY = "retry"
    CORRECT = "correct"


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
