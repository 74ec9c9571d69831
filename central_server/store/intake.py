"""Intake's statements: the dedup backlog, and storing a batch idempotently on submission_id."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from central_server.store.sealed import CentreSealer, attachment_id
from central_server.store.tables import attachments, enrollments, uploads
from central_server.store.uploads import manifest_rows
from ektp_sync.domain.decisions import SubmissionStatus
from ektp_sync.storage import insert_ignoring_conflicts


@dataclass(frozen=True)
class Arrival:
    """One submission as intake stores it: `pending` when it passed every check, or `invalid`
    with the `errors` it is answered with now and whenever it is sent again."""

    submission_id: str
    office_code: str
    status: SubmissionStatus
    received_at: dt.datetime
    nik: str | None = None
    errors: list[str] | None = None
    record: dict[str, Any] | None = None
    template: bytes | None = None
    recorded_at: dt.datetime | None = None
    attachments: Mapping[str, bytes] = field(default_factory=dict)
    #: name → (size, sha256 hex): one tus upload each, made here with the enrollment
    manifest: Mapping[str, tuple[int, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Known:
    """What a submission_id that was already stored was answered with."""

    office_code: str
    status: SubmissionStatus
    errors: list[str] | None


@dataclass(frozen=True)
class TakenIn:
    inserted: set[str]  # submission_ids stored by this call
    known: dict[str, Known]  # the others: stored before (by anyone)


class IntakeStore:
    def __init__(self, engine: AsyncEngine, sealer: CentreSealer) -> None:
        self._engine = engine
        self._sealer = sealer

    async def backlog(self) -> int:
        """Submissions waiting for de-duplication."""
        async with self._engine.connect() as conn:
            pending = await conn.scalar(
                select(func.count())
                .select_from(enrollments)
                .where(enrollments.c.status == SubmissionStatus.PENDING.value)
            )
        return int(pending or 0)

    async def take_in(self, arrivals: Sequence[Arrival]) -> TakenIn:
        """Store every arrival whose submission_id is new (`ON CONFLICT DO NOTHING`), with its
        attachments and the uploads its manifest expects, in one transaction; read back what
        the others were answered with.

        `arrivals` must not repeat a submission_id.
        """
        if not arrivals:
            return TakenIn(set(), {})
        by_id = {a.submission_id: a for a in arrivals}
        async with self._engine.begin() as conn:
            stmt = insert_ignoring_conflicts(conn, enrollments, "submission_id").returning(
                enrollments.c.submission_id
            )
            result = await conn.execute(stmt, [_row(a, self._sealer) for a in arrivals])
            inserted = set(result.scalars().all())
            files = [
                {
                    "submission_id": sid,
                    "name": name,
                    "content": self._sealer.seal_bytes(
                        "attachments.content", attachment_id(sid, name), content
                    ),
                }
                for sid in inserted
                for name, content in by_id[sid].attachments.items()
            ]
            if files:
                await conn.execute(insert(attachments), files)
            expected = manifest_rows((sid, by_id[sid].manifest) for sid in inserted)
            if expected:
                await conn.execute(insert(uploads), expected)
            known: dict[str, Known] = {}
            if len(inserted) < len(by_id):
                rows = await conn.execute(
                    select(
                        enrollments.c.submission_id,
                        enrollments.c.office_code,
                        enrollments.c.status,
                        enrollments.c.errors_sealed,
                    ).where(enrollments.c.submission_id.in_(set(by_id) - inserted))
                )
                known = {
                    row.submission_id: Known(
                        row.office_code,
                        SubmissionStatus(row.status),
                        self._sealer.open_json(
                            "enrollments.errors", row.submission_id, row.errors_sealed
                        ),
                    )
                    for row in rows
                }
        return TakenIn(inserted, known)


def _row(arrival: Arrival, sealer: CentreSealer) -> dict[str, Any]:
    sid = arrival.submission_id
    return {
        "submission_id": sid,
        "office_code": arrival.office_code,
        "nik_sealed": sealer.seal_text("enrollments.nik", sid, arrival.nik),
        "status": arrival.status.value,
        "errors_sealed": sealer.seal_json("enrollments.errors", sid, arrival.errors),
        "record_sealed": sealer.seal_json("enrollments.record", sid, arrival.record),
        "template_sealed": sealer.seal_bytes("enrollments.template", sid, arrival.template),
        "recorded_at": arrival.recorded_at,
        "received_at": arrival.received_at,
    }
