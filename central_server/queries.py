"""Read-only views of the centre for offices and the admin: one submission, and the stats."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from central_server.errors import NotFound
from central_server.state import CentralState
from central_server.tables import enrollments, identities
from ektp_sync.wire import Authorisation, CentralStats, EnrollmentView


async def enrollment_view(
    state: CentralState, submission_id: str, office_code: str | None = None
) -> EnrollmentView:
    """One submission; with `office_code`, only if that office sent it (the admin passes None)."""
    async with state.engine.connect() as conn:
        row = (
            await conn.execute(
                select(enrollments).where(enrollments.c.submission_id == submission_id)
            )
        ).one_or_none()
    # another office's submission is answered exactly like a missing one: no probing
    if row is None or (office_code is not None and row.office_code != office_code):
        raise NotFound(f"no submission {submission_id}")
    return EnrollmentView(
        submission_id=row.submission_id,
        office_code=row.office_code,
        nik=row.nik,
        status=row.status,
        reason=row.reason,
        errors=row.errors,
        authorisation=Authorisation(**row.authorisation) if row.authorisation else None,
        received_at=row.received_at,
        decided_at=row.decided_at,
    )


async def central_stats(state: CentralState) -> CentralStats:
    """Counts over every stored submission, invalid ones included (under status `invalid`)."""
    async with state.engine.connect() as conn:
        grouped = (
            await conn.execute(
                select(
                    enrollments.c.office_code,
                    enrollments.c.status,
                    enrollments.c.reason,
                    func.count().label("n"),
                ).group_by(enrollments.c.office_code, enrollments.c.status, enrollments.c.reason)
            )
        ).all()
        enrolled = await conn.scalar(select(func.count()).select_from(identities))
    by_status: dict[str, int] = defaultdict(int)
    by_reason: dict[str, int] = defaultdict(int)
    offices: dict[str, dict[str, Any]] = {
        code: {"enrollments": 0, "by_status": {}} for code in state.settings.offices
    }
    for row in grouped:
        by_status[row.status] += row.n
        if row.reason is not None:
            by_reason[row.reason] += row.n
        office = offices.setdefault(row.office_code, {"enrollments": 0, "by_status": {}})
        office["enrollments"] += row.n
        office["by_status"][row.status] = office["by_status"].get(row.status, 0) + row.n
    return CentralStats(
        enrollments=sum(by_status.values()),
        identities=enrolled or 0,
        by_status=dict(by_status),
        by_reason=dict(by_reason),
        offices=offices,
    )
