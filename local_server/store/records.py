"""The records of the office node as its service needs them: record, look up, count, print,
re-send. Each method is one short transaction.

Re-sending a `failed` record: the centre answers a re-sent submission_id with its first answer
(`invalid`), so the old id is spent; a new one cannot double an enrolment since an invalid item
enrols nothing. The spent id, its NIK and the refusal go to `submission_history` in the same
transaction that re-queues the record, so the history never disagrees with the record.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.expression import Executable

from ektp_sync.domain.operators import Operator
from ektp_sync.domain.states import PENDING_UPLOAD, RecordState
from ektp_sync.sealing import WRONG_KEY, SealError
from ektp_sync.wire import Authorisation, DecisionView, PastSubmission, RecordView, ResidentRecord
from local_server.errors import NikInFlight
from local_server.store.audit import write_entry
from local_server.store.group_commit import GroupCommit
from local_server.store.listing import page_query, view_query
from local_server.store.packets import (
    INSERT_FILE,
    SealedFile,
    file_rows,
    renew_files,
    transfer_of,
    waiting_transfer,
)
from local_server.store.queue import ENQUEUE, enqueue, queue_entry
from local_server.store.sealed import PAST_REASON, RECORD_ERROR, NodeSealer
from local_server.store.tables import records, submission_history
from local_server.store.transitions import BORN, BORN_COLUMNS, move

S = RecordState
Action = Literal["retry", "correction"]

_PRINTED = move(S.PRINTED)
#: only an operator's retry or correction brings a failed record back to the queue
_RESENT = move(S.QUEUED, only_from=[S.FAILED])


def payload_of(resident: ResidentRecord) -> str:
    """The record as stored and sent: compact JSON of its validated form."""
    return json.dumps(resident.model_dump(mode="json"), separators=(",", ":"))


@dataclass(frozen=True)
class Census:
    """How many records are in each state; when the oldest not yet accepted was recorded."""

    by_state: dict[str, int]
    oldest_pending_at: dt.datetime | None


@dataclass(frozen=True)
class Stored:
    """What a correction starts from."""

    state: RecordState
    payload: dict[str, Any]
    submission_id: str


def new_record_row(
    record_id: str,
    submission_id: str,
    resident: ResidentRecord,
    now: dt.datetime,
    sealer: NodeSealer,
) -> dict[str, Any]:
    """The row of a new recording, queued (the parameters of `_INSERT_RECORD`); its NIK and
    payload sealed by `sealer`."""
    payload = payload_of(resident)
    return {
        "id": record_id,
        **sealer.record_columns(record_id, resident.nik, payload),
        **BORN_COLUMNS,
        "submission_id": submission_id,
        "payload_bytes": len(payload.encode("utf-8")),
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


#: built once: its compiled form is then found in SQLAlchemy's cache on every recording
_INSERT_RECORD = insert(records)


class RecordStore:
    def __init__(self, engine: AsyncEngine, commits: GroupCommit, sealer: NodeSealer) -> None:
        self._engine = engine
        self._commits = commits
        self._sealer = sealer

    async def add(
        self,
        record_id: str,
        submission_id: str,
        resident: ResidentRecord,
        now: dt.datetime,
        files: Sequence[SealedFile] = (),
    ) -> RecordView:
        """Store the record, its queue entry and its attachments (`files`, heavy packets) in one
        transaction, shared with the recordings made meanwhile (group commit); the record as
        stored, once durable. NikInFlight when another record of the NIK is in flight (a unique
        index: two concurrent POSTs cannot both pass, in one group or in two)."""
        row = new_record_row(record_id, submission_id, resident, now, self._sealer)
        entry = queue_entry(record_id, row["payload_bytes"], now)
        statements: list[tuple[Executable, dict[str, Any]]] = [
            (_INSERT_RECORD, row),
            (ENQUEUE, entry),
        ]
        statements += [(INSERT_FILE, f) for f in file_rows(record_id, files, now)]
        try:
            await self._commits.write(statements)
        except IntegrityError:
            raise NikInFlight(resident.nik) from None
        return RecordView(
            id=record_id,
            nik=resident.nik,
            state=BORN,
            submission_id=submission_id,
            attempts=0,
            last_error=None,
            next_attempt_at=now,
            decision=None,
            created_at=now,
            updated_at=now,
            transfer=waiting_transfer(files),
        )

    async def check_key(self) -> None:
        """SealError, saying what to check, when the data key does not open a stored record:
        a server started with another key than its database's must stop, not answer errors."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(records.c.id, records.c.nik_sealed).limit(1))).first()
        if row is not None:
            try:
                self._sealer.open_nik(row.id, row.nik_sealed)
            except SealError:
                raise SealError(WRONG_KEY) from None

    async def view(self, record_id: str) -> RecordView | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(view_query().where(records.c.id == record_id))).one_or_none()
            if row is None:
                return None
            history = await self._history_of(conn, [record_id])
            transfer = await transfer_of(conn, record_id, self._sealer)
        return self._view(row, history.get(record_id)).model_copy(update={"transfer": transfer})

    async def page(
        self, state: RecordState | None, limit: int, after: str | None, nik: str | None
    ) -> tuple[list[RecordView], bool]:
        """Up to `limit` records in id order (after the id `after`); whether more follow."""
        lookup = None if nik is None else self._sealer.nik_lookup(nik)
        query = page_query(state, limit + 1, after, lookup)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            more, rows = len(rows) > limit, rows[:limit]
            history = await self._history_of(conn, [r.id for r in rows])
        return [self._view(r, history.get(r.id)) for r in rows], more

    async def census(self) -> Census:
        async with self._engine.connect() as conn:
            counted = (
                await conn.execute(select(records.c.state, func.count()).group_by(records.c.state))
            ).all()
            oldest = (
                await conn.execute(
                    select(records.c.created_at)
                    .where(records.c.state.in_(_PENDING))
                    .order_by(records.c.created_at)
                    .limit(1)
                )
            ).scalar_one_or_none()
        return Census({state: int(n) for state, n in counted}, oldest)

    async def pending(self, limit: int) -> list[RecordView]:
        """The oldest records not yet accepted by the centre (history left out)."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    view_query()
                    .where(records.c.state.in_(_PENDING))
                    .order_by(records.c.created_at, records.c.id)
                    .limit(limit)
                )
            ).all()
        return [self._view(r) for r in rows]

    async def mark_printed(self, record_id: str, now: dt.datetime, by: Operator) -> bool:
        """False when the record may not (or no longer) become printed; the print goes to the
        audit trail in the same transaction."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(records)
                .where(records.c.id == record_id, _PRINTED.allowed)
                .values(**_PRINTED.values, printed_at=now, updated_at=now)
            )
            if result.rowcount:
                await write_entry(conn, by, "print", record_id, now)
        return bool(result.rowcount)

    async def stored(self, record_id: str) -> Stored | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        records.c.state, records.c.payload_sealed, records.c.submission_id
                    ).where(records.c.id == record_id)
                )
            ).one_or_none()
        if row is None:
            return None
        payload = self._sealer.open_payload(record_id, row.payload_sealed)
        return Stored(RecordState(row.state), json.loads(payload), row.submission_id)

    async def resend(
        self,
        record_id: str,
        *,
        submission_id: str,
        now: dt.datetime,
        action: Action,
        corrected: ResidentRecord | None = None,
        changed: Sequence[str] = (),
        expected_submission_id: str | None = None,
        by: Operator,
        files: Sequence[SealedFile] | None = None,
    ) -> bool:
        """Archive the spent submission and re-queue the record under `submission_id`; its
        attachments go up again (`files` replaces them, None keeps them); the operator's action
        goes to the audit trail in the same transaction.

        False (and nothing written) unless the record is `failed` — and still under
        `expected_submission_id` when given, so a correction computed from an earlier read cannot
        overwrite a record that moved on in between. NikInFlight when its (new) NIK is in flight
        in another record.
        """
        async with self._engine.begin() as conn:
            old = (
                await conn.execute(
                    select(
                        records.c.submission_id,
                        records.c.nik_sealed,
                        records.c.attempts,
                        records.c.last_error,
                        records.c.payload_bytes,
                        records.c.created_at,
                    )
                    .where(records.c.id == record_id, _RESENT.allowed)
                    .with_for_update()
                )
            ).one_or_none()
            if old is None or expected_submission_id not in (None, old.submission_id):
                return False
            spent = self._spent(record_id, old)
            try:
                await _archive(conn, record_id, old, spent, now, action, changed)
                await self._requeue(
                    conn, record_id, submission_id, old.payload_bytes, now, corrected
                )
                await write_entry(conn, by, _AUDITED[action], record_id, now)
                await renew_files(conn, record_id, files, now)
            except IntegrityError:
                if corrected is not None:
                    raise NikInFlight(corrected.nik) from None
                raise NikInFlight(self._sealer.open_nik(record_id, old.nik_sealed)) from None
        return True

    def _spent(self, record_id: str, old: _Spent) -> _SpentSealed:
        """The spent submission's NIK and refusal, sealed again for `submission_history` (bound
        to the spent submission id there)."""
        sid = old.submission_id
        reason = self._sealer.open_error(RECORD_ERROR, record_id, old.last_error)
        return _SpentSealed(
            nik=self._sealer.seal_spent_nik(sid, self._sealer.open_nik(record_id, old.nik_sealed)),
            reason=self._sealer.seal_error(PAST_REASON, sid, reason),
        )

    def _view(self, row: Row[Any], history: list[PastSubmission] | None = None) -> RecordView:
        decision = None
        if row.decision_status is not None:
            auth = row.authorisation_sealed
            decision = DecisionView(
                status=row.decision_status,
                reason=row.decision_reason,
                authorisation=Authorisation.model_validate_json(
                    self._sealer.open_authorisation(row.id, auth)
                )
                if auth
                else None,
            )
        return RecordView(
            id=row.id,
            nik=self._sealer.open_nik(row.id, row.nik_sealed),
            state=RecordState(row.state),
            submission_id=row.submission_id,
            attempts=row.attempts,
            last_error=self._sealer.open_error(RECORD_ERROR, row.id, row.last_error),
            next_attempt_at=row.next_attempt_at,
            decision=decision,
            created_at=row.created_at,
            updated_at=row.updated_at,
            printed_at=row.printed_at,
            history=history or [],
            sent_at=row.sent_at,
            decided_at=row.decided_at,
        )

    async def _requeue(
        self,
        conn: AsyncConnection,
        record_id: str,
        submission_id: str,
        payload_bytes: int,
        now: dt.datetime,
        corrected: ResidentRecord | None,
    ) -> None:
        values: dict[str, Any] = {
            **_RESENT.values,
            "submission_id": submission_id,
            "attempts": 0,
            "last_error": None,
            "updated_at": now,
            "sent_at": None,
        }
        if corrected is not None:
            payload = payload_of(corrected)
            payload_bytes = len(payload.encode("utf-8"))
            values |= self._sealer.record_columns(record_id, corrected.nik, payload)
            values["payload_bytes"] = payload_bytes
        # raises IntegrityError when the (new) NIK is in flight in another record: unique index
        await conn.execute(
            update(records).where(records.c.id == record_id, _RESENT.allowed).values(**values)
        )
        await enqueue(conn, record_id, payload_bytes)

    async def _history_of(
        self, conn: AsyncConnection, record_ids: Sequence[str]
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
            sid = row.submission_id
            past = PastSubmission.model_validate(
                {
                    **row._mapping,
                    "nik": self._sealer.open_spent_nik(sid, row.nik_sealed),
                    "reason": self._sealer.open_error(PAST_REASON, sid, row.reason),
                    "changed_fields": fields,
                }
            )
            found.setdefault(row.record_id, []).append(past)
        return found


_PENDING = [s.value for s in sorted(PENDING_UPLOAD)]
#: the audit trail's name of each re-sending action
_AUDITED: dict[Action, str] = {"retry": "retry", "correction": "correct"}

#: the failed record as `resend` found it: submission_id, nik_sealed, attempts, last_error,
#: payload_bytes, created_at
_Spent = Row[Any, Any, Any, Any, Any, Any]


@dataclass(frozen=True)
class _SpentSealed:
    """What `submission_history` keeps of a spent submission, sealed under its id."""

    nik: bytes
    reason: bytes | None


async def _archive(
    conn: AsyncConnection,
    record_id: str,
    old: _Spent,
    spent: _SpentSealed,
    now: dt.datetime,
    action: Action,
    changed: Sequence[str],
) -> None:
    previous = await conn.scalar(
        select(func.max(submission_history.c.superseded_at)).where(
            submission_history.c.record_id == record_id
        )
    )
    await conn.execute(
        insert(submission_history).values(
            record_id=record_id,
            submission_id=old.submission_id,
            nik_sealed=spent.nik,
            outcome=S.FAILED.value,
            reason=spent.reason,
            attempts=old.attempts,
            submitted_at=previous or old.created_at,
            superseded_at=now,
            superseded_by=action,
            changed_fields=",".join(changed),
        )
    )
