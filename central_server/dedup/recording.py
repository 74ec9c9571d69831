"""Writing decisions: enrollments' new status, decision-log entries and new identities, in bulk.

One statement per table per batch (executemany), not per submission: the database round trips,
not the matching, are what limit how fast the centre decides.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central_server.tables import decision_log, enrollments, identities
from ektp_sync.domain.biometrics import Vector
from ektp_sync.domain.decisions import DecisionStatus, Verdict
from ektp_sync.signing import Signer
from ektp_sync.wire import Authorisation


@dataclass(frozen=True)
class Submission:
    """The parts of a stored submission a decision needs."""

    id: int
    submission_id: str
    office_code: str
    nik: str
    template: bytes

    @property
    def vector(self) -> Vector:
        return np.frombuffer(self.template, dtype=np.float32)


@dataclass(frozen=True)
class Outcome:
    """One decision, ready to be written."""

    submission: Submission
    verdict: Verdict
    authorisation: Authorisation | None
    enrols: bool
    decided_at: dt.datetime


def issue_authorisation(signer: Signer, submission: Submission, now: dt.datetime) -> Authorisation:
    approval_no = f"KTP-{now:%Y%m%d}-{uuid.uuid4().hex[:16].upper()}"
    issued_at = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return signer.authorise(submission.submission_id, submission.nik, approval_no, issued_at)


def is_approval(verdict: Verdict) -> bool:
    return verdict.status is DecisionStatus.APPROVED


async def write_outcomes(
    conn: AsyncConnection, outcomes: list[Outcome], from_status: str
) -> int | None:
    """Write every outcome; returns the highest new identity id, if any identity was enrolled.

    Callers hold the dedup lock and read these rows in `from_status` inside the same
    transaction, so the status guard in the UPDATE never filters a row out; it stays as a
    second line of defence against a decider that forgot the lock.
    """
    if not outcomes:
        return None
    await conn.execute(
        update(enrollments)
        .where(enrollments.c.id == bindparam("b_id"), enrollments.c.status == from_status)
        .values(
            status=bindparam("b_status"),
            reason=bindparam("b_reason"),
            decided_at=bindparam("b_decided_at"),
            authorisation=bindparam("b_authorisation"),
            approval_no=bindparam("b_approval_no"),
        ),
        [_enrollment_change(o) for o in outcomes],
    )
    await conn.execute(insert(decision_log), [_log_entry(o) for o in outcomes])
    new_people = [_identity(o) for o in outcomes if o.enrols]
    if not new_people:
        return None
    ids = (await conn.execute(insert(identities).returning(identities.c.id), new_people)).scalars()
    return max(int(i) for i in ids)


def _signed(outcome: Outcome) -> dict[str, Any] | None:
    return outcome.authorisation.model_dump() if outcome.authorisation else None


def _enrollment_change(outcome: Outcome) -> dict[str, Any]:
    return {
        "b_id": outcome.submission.id,
        "b_status": outcome.verdict.status.value,
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
