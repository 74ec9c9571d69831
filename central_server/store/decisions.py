"""De-duplication's statements: pending submissions in, decisions and new identities out.

Every decision runs in one `DecisionTransaction`, which holds `pg_advisory_xact_lock` on
PostgreSQL from its first statement to its commit, so deciders in several processes take turns
(SQLite's single writer does the same). Writes are one statement per table per batch
(executemany), not per submission: the round trips, not the matching, limit how fast the centre
decides.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import bindparam, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central_server.store.sealed import CentreSealer, log_entry_id
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
    enrollments.c.nik_sealed,
    enrollments.c.template_sealed,
    ~exists()
    .where(uploads.c.submission_id == enrollments.c.submission_id, uploads.c.complete.is_(False))
    .label("packet_complete"),
)


class DecisionStore:
    def __init__(self, engine: AsyncEngine, sealer: CentreSealer) -> None:
        self._engine = engine
        self._sealer = sealer

    async def has_pending(self) -> bool:
        async with self._engine.connect() as conn:
            found = await conn.scalar(
                select(exists().where(enrollments.c.status == SubmissionStatus.PENDING.value))
            )
        return bool(found)

    async def identities_after(self, after: int, limit: int | None = None) -> Sequence[Identity]:
        """Outside any decision (loading the gallery at start, `limit` at a time)."""
        async with self._engine.connect() as conn:
            return await _identities_after(conn, after, self._sealer, limit)

    async def enrol_in_bulk(
        self, people: Sequence[tuple[str, bytes]], office_code: str, enrolled_at: dt.datetime
    ) -> None:
        """Identities (NIK, template) loaded in bulk, as a centre migrating an existing register
        would (benchmarks: a centre that already holds a million people); one transaction."""
        rows = [
            {
                "submission_id": sid,
                "office_code": office_code,
                "enrolled_at": enrolled_at,
                **_identity_columns(self._sealer, sid, nik, template),
            }
            for sid, nik, template in ((f"bulk-{n}", n, t) for n, t in people)
        ]
        async with self._engine.begin() as conn:
            await conn.execute(insert(identities), rows)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[DecisionTransaction]:
        """One decision transaction, the cross-process dedup lock held until it ends."""
        async with self._engine.begin() as conn:
            yield await self.joining(conn)

    async def joining(self, conn: AsyncConnection) -> DecisionTransaction:
        """Decide inside a transaction already open on `conn` (an upload that completes a
        packet): the cross-process dedup lock is taken now and held until it ends."""
        await advisory_xact_lock(conn, DEDUP_LOCK_KEY)
        return DecisionTransaction(conn, self._sealer)


class DecisionTransaction:
    """The statements of one decision, all in one transaction under the dedup lock."""

    def __init__(self, conn: AsyncConnection, sealer: CentreSealer) -> None:
        self._conn = conn
        self._sealer = sealer

    async def identities_after(self, after: int) -> Sequence[Identity]:
        """Identities enrolled (by any process) since id `after`, in id order."""
        return await _identities_after(self._conn, after, self._sealer)

    async def pending(self, limit: int) -> list[Submission]:
        """Up to `limit` pending submissions, in arrival order."""
        rows = await self._conn.execute(
            select(*_SUBMISSION_COLUMNS)
            .where(enrollments.c.status == SubmissionStatus.PENDING.value)
            .order_by(enrollments.c.id)
            .limit(limit)
        )
        return [self._submission(row) for row in rows]

    def _submission(self, row: Any) -> Submission:
        """A row of `_SUBMISSION_COLUMNS`, opened."""
        sid = row.submission_id
        nik = self._sealer.open_text("enrollments.nik", sid, row.nik_sealed)
        template = self._sealer.open_bytes("enrollments.template", sid, row.template_sealed)
        assert nik is not None and template is not None  # a pending or decided item has both
        return Submission(row.id, sid, row.office_code, nik, template, bool(row.packet_complete))

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
        return self._submission(row), SubmissionStatus(row.status)

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
                authorisation_sealed=bindparam("b_authorisation"),
                approval_no=bindparam("b_approval_no"),
            ),
            [_enrollment_change(o, self._sealer) for o in outcomes],
        )
        published = [_log_entry(o, self._sealer) for o in outcomes if not o.held]
        if published:  # the one place a decision enters the feed
            await self._conn.execute(insert(decision_log), published)
        new_people = [_identity(o, self._sealer) for o in outcomes if o.enrols]
        if not new_people:
            return None
        ids = (
            await self._conn.execute(insert(identities).returning(identities.c.id), new_people)
        ).scalars()
        return max(int(i) for i in ids)


async def _identities_after(
    conn: AsyncConnection, after: int, sealer: CentreSealer, limit: int | None = None
) -> Sequence[Identity]:
    """The gallery's source, opened: (id, NIK, template) of each identity after id `after`."""
    rows = await conn.execute(
        select(
            identities.c.id,
            identities.c.submission_id,
            identities.c.nik_sealed,
            identities.c.template_sealed,
        )
        .where(identities.c.id > after)
        .order_by(identities.c.id)
        .limit(limit)
    )
    return [
        (row.id, *sealer.open_identity(row.submission_id, row.nik_sealed, row.template_sealed))
        for row in rows
    ]


def _signed(outcome: Outcome) -> dict[str, Any] | None:
    return outcome.authorisation.model_dump() if outcome.authorisation else None


def _enrollment_change(outcome: Outcome, sealer: CentreSealer) -> dict[str, Any]:
    sid = outcome.submission.submission_id
    return {
        "b_id": outcome.submission.id,
        "b_status": outcome.stored_status.value,
        "b_reason": outcome.verdict.reason.value,
        "b_decided_at": outcome.decided_at,
        "b_authorisation": sealer.seal_json("enrollments.authorisation", sid, _signed(outcome)),
        "b_approval_no": outcome.authorisation.approval_no if outcome.authorisation else None,
    }


def _log_entry(outcome: Outcome, sealer: CentreSealer) -> dict[str, Any]:
    sid = outcome.submission.submission_id
    entry = log_entry_id(sid, outcome.verdict.status.value)
    return {
        "office_code": outcome.submission.office_code,
        "submission_id": sid,
        "nik_sealed": sealer.seal_text("decision_log.nik", entry, outcome.submission.nik),
        "status": outcome.verdict.status.value,
        "reason": outcome.verdict.reason.value,
        "authorisation_sealed": sealer.seal_json(
            "decision_log.authorisation", entry, _signed(outcome)
        ),
        "decided_at": outcome.decided_at,
    }


def _identity_columns(
    sealer: CentreSealer, submission_id: str, nik: str, template: bytes
) -> dict[str, Any]:
    """An identity's sealed NIK and template and its keyed NIK hash."""
    return {
        "nik_lookup": sealer.nik_lookup(nik),
        "nik_sealed": sealer.seal_text("identities.nik", submission_id, nik),
        "template_sealed": sealer.seal_bytes("identities.template", submission_id, template),
    }


def _identity(outcome: Outcome, sealer: CentreSealer) -> dict[str, Any]:
    sid = outcome.submission.submission_id
    return {
        **_identity_columns(sealer, sid, outcome.submission.nik, outcome.submission.template),
        "submission_id": sid,
        "office_code": outcome.submission.office_code,
        "enrolled_at": outcome.decided_at,
    }
