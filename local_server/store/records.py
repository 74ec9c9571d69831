"""Re-sending a `failed` record under a new submission_id, as is (retry) or corrected (PUT).

The centre answers a re-sent submission_id with its first answer (`invalid`), so the old id is
spent; a new one cannot double an enrolment since an invalid item enrols nothing. The spent id,
its NIK and the refusal go to `submission_history`, in the same transaction that re-queues the
record, so the history never disagrees with the record.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ektp_sync.domain.states import RecordState
from ektp_sync.wire import PastSubmission, ResidentRecord
from local_server.store.queue import enqueue
from local_server.store.tables import records, submission_history

S = RecordState
Action = Literal["retry", "correction"]


def payload_of(resident: ResidentRecord) -> str:
    """The record as stored and sent: compact JSON of its validated form."""
    return json.dumps(resident.model_dump(mode="json"), separators=(",", ":"))


def changed_fields(stored: dict[str, Any], corrected: ResidentRecord) -> list[str]:
    """Top-level fields whose value differs between the stored payload and the correction."""
    new = corrected.model_dump(mode="json")
    return sorted(name for name in new.keys() | stored.keys() if stored.get(name) != new.get(name))


async def requeue_failed(
    conn: AsyncConnection,
    record_id: str,
    *,
    submission_id: str,
    now: dt.datetime,
    action: Action,
    corrected: ResidentRecord | None = None,
    changed: Sequence[str] = (),
    expected_submission_id: str | None = None,
) -> bool:
    """Within the caller's transaction: archive the spent submission, re-queue the record.

    False (and nothing written) unless the record is `failed` — and still under
    `expected_submission_id` when given, so a correction computed from an earlier read cannot
    overwrite a record that moved on in between.
    """
    old = (
        await conn.execute(
            select(
                records.c.submission_id,
                records.c.nik,
                records.c.attempts,
                records.c.last_error,
                records.c.payload_bytes,
                records.c.created_at,
            )
            .where(records.c.id == record_id, records.c.state == S.FAILED.value)
            .with_for_update()
        )
    ).one_or_none()
    if old is None or expected_submission_id not in (None, old.submission_id):
        return False
    previous = await conn.scalar(
        select(func.max(submission_history.c.superseded_at)).where(
            submission_history.c.record_id == record_id
        )
    )
    await conn.execute(
        insert(submission_history).values(
            record_id=record_id,
            submission_id=old.submission_id,
            nik=old.nik,
            outcome=S.FAILED.value,
            reason=old.last_error,
            attempts=old.attempts,
            submitted_at=previous or old.created_at,
            superseded_at=now,
            superseded_by=action,
            changed_fields=",".join(changed),
        )
    )
    values: dict[str, Any] = {
        "state": S.QUEUED.value,
        "submission_id": submission_id,
        "attempts": 0,
        "last_error": None,
        "updated_at": now,
    }
    payload_bytes = old.payload_bytes
    if corrected is not None:
        payload = payload_of(corrected)
        payload_bytes = len(payload.encode("utf-8"))
        values |= {"nik": corrected.nik, "payload": payload, "payload_bytes": payload_bytes}
    # raises IntegrityError when the (new) NIK is in flight in another record: partial index
    await conn.execute(update(records).where(records.c.id == record_id).values(**values))
    await enqueue(conn, record_id, payload_bytes)
    return True


async def history_of(
    conn: AsyncConnection, record_ids: Sequence[str]
) -> dict[str, list[PastSubmission]]:
    """Past submissions of each record, oldest first; one query for a whole page."""
    found: dict[str, list[PastSubmission]] = {}
    if not record_ids:
        return found
    rows = await conn.execute(
        select(submission_history)
        .where(submission_history.c.record_id.in_(record_ids))
        .order_by(submission_history.c.record_id, submission_history.c.id)
    )
    for row in rows:
        fields = [name for name in row.changed_fields.split(",") if name]
        past = PastSubmission.model_validate({**row._mapping, "changed_fields": fields})
        found.setdefault(row.record_id, []).append(past)
    return found
