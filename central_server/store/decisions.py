"""De-duplication's statements: pending submissions in, decisions and new identities out.

Every decision runs in one `DecisionTransaction`, which holds `pg_advisory_xact_lock` on
PostgreSQL from its first statement to its commit, so deciders in several processes take turns
(SQLite's single writer does the same). Writes are one statement per table per batch
(executemany), not per submission: the round trips, not the matching, limit how fast the centre
decides.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from sqlalchemy import bindparam, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central_server.store.tables import decision_log, enrollments, identities, uploads
from ektp_sync.domain.biometrics import Vector
from ektp_sync.domain.decisions import (
    DecisionReason,
    DecisionStatus,
    SubmissionStatus,
    Verdict,
)
from ektp_sync.storage import advisory_xact_lock
from ektp_sync.wire import Authorisation

#: pg_advisory_xact_lock key serialising every decision across processes ("ektp" in ASCII)
DEDUP_LOCK_KEY = 0x656B7470

#: (id, NIK, template) of an enrolled person; ids only grow, so "after id N" is a catch-up
Identity = tuple[int, str, bytes]


@dataclass(frozen=True)
class Submission:
    """The parts of a stored submission a decision needs."""

    id: int
    submission_id: str
    office_code: str
    nik: str
    template: bytes
    #: every upload of its manifest arrived whole and verified (True without a manifest)
    packet_complete: bool = True

    @property
    def vector(self) -> Vector:
        return np.frombuffer(self.template, dtype=np.float32)


@dataclass(frozen=True)
class Outcome:
    """One decision, ready to be written; `enrols` adds the person as a new identity. A `held`
    approval waits, unsigned and unpublished, for its packet (SubmissionStatus.HELD)."""

    submission: Submission
    verdict: Verdict
    authorisation: Authorisation | None
    enrols: bool
    decided_at: dt.datetime
    held: bool = False

    @property
    def stored_status(self) -> SubmissionStatus:
        return SubmissionStatus.HELD if self.held else SubmissionStatus(self.verdict.status)


_SUBMISSION_COLUMNS = (
    enrollments.c.id,
    enrollments.c.submission_id,
    enrollments.c.office_code,
    enrollments.c.nik,
    enrollments.c.template,
    ~exists()
    .where(uploads.c.submission_id == enrollments.c.submission_id, uploads.c.complete.is_(False))
    .label("packet_complete"),
)


class DecisionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def has_pending(self) -> bool:
        async with self._engine.connect() as conn:
            found = await conn.scalar(
                select(exists().where(enrollments.c.status == SubmissionStatus.PENDING.value))
            )
        return bool(found)

    async def identities_after(self, after: int) -> Sequence[Identity]:
        """Outside any decision (loading the gallery at start)."""
        async with self._engine.connect() as conn:
            return await _identities_after(conn, after)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[DecisionTransaction]:
        """One decision transaction, the cross-process dedup lock held until it ends."""
        async with self._engine.begin() as conn:
            yield await self.joining(conn)

    async def joining(self, conn: AsyncConnection) -> DecisionTransaction:
        """Decide inside a transaction already open on `conn` (an upload that completes a
        packet): the cross-process dedup lock is taken now and held until it ends."""
        await advisory_xact_lock(conn, DEDUP_LOCK_KEY)
        return DecisionTransaction(conn)


class DecisionTransaction:
    """The statements of one decision, all in one transaction under the dedup lock."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def identities_after(self, after: int) -> Sequence[Identity]:
        """Identities enrolled (by any process) since id `after`, in id order."""
        return await _identities_after(self._conn, after)

    async def pending(self, limit: int) -> list[Submission]:
        """Up to `limit` pending submissions, in arrival order."""
        rows = await self._conn.execute(
            select(*_SUBMISSION_COLUMNS)
            .where(enrollments.c.status == SubmissionStatus.PENDING.value)
            .order_by(enrollments.c.id)
            .limit(limit)
        )
        return [_submission(dict(row._mapping)) for row in rows]

    async def submission(self, submission_id: str) -> tuple[Submission, SubmissionStatus] | None:
        row = (
            await self._conn.execute(
                select(*_SUBMISSION_COLUMNS, enrollments.c.status).where(
                    enrollments.c.submission_id == submission_id
                )
            )
        ).one_or_none()
        if row is None:
            return None
        values = dict(row._mapping)
        status = SubmissionStatus(values.pop("status"))
        return _submission(values), status

    async def held_verdict(self, enrollment_id: int) -> Verdict:
        """The approval a held submission was decided with (its status is `held` meanwhile)."""
        reason = await self._conn.scalar(
            select(enrollments.c.reason).where(enrollments.c.id == enrollment_id)
        )
        return Verdict(DecisionStatus.APPROVED, DecisionReason(str(reason)))

    async def write(self, outcomes: list[Outcome], from_status: SubmissionStatus) -> int | None:
        """Write every outcome, publishing in the feed all but the held ones; returns the highest
        new identity id, if any identity was enrolled.

        Callers read these rows in `from_status` inside this transaction, under the lock, so
        the status guard in the UPDATE never filters a row out; it stays as a second line of
        defence against a decider that forgot the lock.
        """
        if not outcomes:
            return None
        await self._conn.execute(
            update(enrollments)
            .where(
                enrollments.c.id == bindparam("b_id"),
                enrollments.c.status == from_status.value,
            )
            .values(
                status=bindparam("b_status"),
                reason=bindparam("b_reason"),
                decided_at=bindparam("b_decided_at"),
                authorisation=bindparam("b_authorisation"),
                approval_no=bindparam("b_approval_no"),
            ),
            [_enrollment_change(o) for o in outcomes],
        )
        published = [_log_entry(o) for o in outcomes if not o.held]
        if published:  # the one place a decision enters the feed
            await self._conn.execute(insert(decision_log), published)
        new_people = [_identity(o) for o in outcomes if o.enrols]
        if not new_people:
            return None
        ids = (
            await self._conn.execute(insert(identities).returning(identities.c.id), new_people)
        ).scalars()
        return max(int(i) for i in ids)


async def _identities_after(conn: AsyncConnection, after: int) -> Sequence[Identity]:
    rows = await conn.execute(
        select(identities.c.id, identities.c.nik, identities.c.template)
        .where(identities.c.id > after)
        .order_by(identities.c.id)
    )
    return cast(Sequence[Identity], rows.all())  # rows are tuples


def _submission(values: Mapping[str, Any]) -> Submission:
    return Submission(**{**values, "packet_complete": bool(values["packet_complete"])})


def _signed(outcome: Outcome) -> dict[str, Any] | None:
    return outcome.authorisation.model_dump() if outcome.authorisation else None


def _enrollment_change(outcome: Outcome) -> dict[str, Any]:
    return {
        "b_id": outcome.submission.id,
        "b_status": outcome.stored_status.value,
        "b_reason": outcome.verdict.reason.value,
        "b_decided_at": outcome.decided_at,
        "b_authorisation": _signed(outcome),
        "b_approval_no": outcome.authorisation.approval_no if outcome.authorisation else None,
    }


def _log_entry(outcome: Outcome) -> dict[str, Any]:
    return {
        "office_code": outcome.submission.office_code,
        "submission_id": outcome.submission.submission_id,
        "nik": outcome.submission.nik,
        "status": outcome.verdict.status.value,
        "reason": outcome.verdict.reason.value,
        "authorisation": _signed(outcome),
        "decided_at": outcome.decided_at,
    }


def _identity(outcome: Outcome) -> dict[str, Any]:
    return {
        "nik": outcome.submission.nik,
        "template": outcome.submission.template,
        "submission_id": outcome.submission.submission_id,
        "office_code": outcome.submission.office_code,
        "enrolled_at": outcome.decided_at,
    }
