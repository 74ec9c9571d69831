"""Read-only statements for the views of offices and the admin: one submission, the counts,
and the totals /metrics reads at each scrape."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from central_server.store.tables import enrollments, identities
from ektp_sync.domain.decisions import DecisionReason, SubmissionStatus
from ektp_sync.wire import Authorisation, EnrollmentView

#: a held approval is not published yet: offices and the admin see it as undecided
_SHOWN_PENDING = (SubmissionStatus.PENDING.value, SubmissionStatus.HELD.value)


def _shown(status: str) -> SubmissionStatus:
    return SubmissionStatus.PENDING if status in _SHOWN_PENDING else SubmissionStatus(status)


def _reason(status: str, reason: str | None) -> DecisionReason | None:
    if reason is None or status in _SHOWN_PENDING:
        return None
    return DecisionReason(reason)


@dataclass(frozen=True)
class Count:
    """How many submissions of one office are in one status, for one reason."""

    office_code: str
    status: SubmissionStatus
    reason: DecisionReason | None
    n: int


@dataclass(frozen=True)
class Counts:
    submissions: list[Count]
    identities: int


class ViewStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def enrollment(self, submission_id: str) -> EnrollmentView | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(enrollments).where(enrollments.c.submission_id == submission_id)
                )
            ).one_or_none()
        if row is None:
            return None
        return EnrollmentView(
            submission_id=row.submission_id,
            office_code=row.office_code,
            nik=row.nik,
            status=_shown(row.status),
            reason=_reason(row.status, row.reason),
            errors=row.errors,
            authorisation=Authorisation(**row.authorisation) if row.authorisation else None,
            received_at=row.received_at,
            decided_at=row.decided_at,
        )

    async def counts(self) -> Counts:
        """Submissions by office, status and reason (invalid ones included); identities."""
        async with self._engine.connect() as conn:
            grouped = (
                await conn.execute(
                    select(
                        enrollments.c.office_code,
                        enrollments.c.status,
                        enrollments.c.reason,
                        func.count().label("n"),
                    ).group_by(
                        enrollments.c.office_code, enrollments.c.status, enrollments.c.reason
                    )
                )
            ).all()
            enrolled = await conn.scalar(select(func.count()).select_from(identities))
        return Counts(
            [
                Count(
                    row.office_code,
                    _shown(row.status),
                    _reason(row.status, row.reason),
                    int(row.n),
                )
                for row in grouped
            ],
            int(enrolled or 0),
        )

    async def totals(self) -> tuple[int, int]:
        """(identities enrolled, submissions waiting for de-duplication)."""
        async with self._engine.connect() as conn:
            enrolled = await conn.scalar(select(func.count()).select_from(identities))
            pending = await conn.scalar(
                select(func.count())
                .select_from(enrollments)
                .where(enrollments.c.status == SubmissionStatus.PENDING.value)
            )
        return int(enrolled or 0), int(pending or 0)
