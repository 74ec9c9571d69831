"""Read-only statements for the views of offices and the admin: one submission, the counts,
and the totals /metrics reads at each scrape."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from central_server.store.sealed import CentreSealer
from central_server.store.tables import enrollments, identities
from ektp_sync.domain.decisions import DecisionReason, SubmissionStatus
from ektp_sync.sealing import WRONG_KEY, SealError
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
    def __init__(self, engine: AsyncEngine, sealer: CentreSealer) -> None:
        self._engine = engine
        self._sealer = sealer

    async def check_key(self) -> None:
        """SealError, saying what to check, when the data key does not open a stored NIK."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(enrollments.c.submission_id, enrollments.c.nik_sealed)
                    .where(enrollments.c.nik_sealed.is_not(None))
                    .limit(1)
                )
            ).first()
        if row is not None:
            try:
                self._sealer.open_text("enrollments.nik", row.submission_id, row.nik_sealed)
            except SealError:
                raise SealError(WRONG_KEY) from None

    async def enrollment(self, submission_id: str) -> EnrollmentView | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(enrollments).where(enrollments.c.submission_id == submission_id)
                )
            ).one_or_none()
        if row is None:
            return None
        opened = self._sealer
        signed = opened.open_json(
            "enrollments.authorisation", submission_id, row.authorisation_sealed
        )
        return EnrollmentView(
            submission_id=row.submission_id,
            office_code=row.office_code,
            nik=opened.open_text("enrollments.nik", submission_id, row.nik_sealed),
            status=_shown(row.status),
            reason=_reason(row.status, row.reason),
            errors=opened.open_json("enrollments.errors", submission_id, row.errors_sealed),
            authorisation=Authorisation(**signed) if signed else None,
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
