"""The office's record use-cases: record, look up, list, print, re-send; the operator's view."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Row, Select, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ektp_sync.body import body_validation_error
from ektp_sync.config import LocalSettings
from ektp_sync.domain.nik import mask_nik
from ektp_sync.domain.states import PENDING_UPLOAD, RecordState, sources_of
from ektp_sync.inbox import PUBLIC_KEY_KEY
from ektp_sync.node_tables import outbox, records
from ektp_sync.outbox import enqueue
from ektp_sync.signing import load_public_key, verify
from ektp_sync.storage import utcnow
from ektp_sync.sync.worker import SyncWorker
from ektp_sync.wire import (
    Authorisation,
    DecisionView,
    NodeStatus,
    PastSubmission,
    PendingUpload,
    PendingUploads,
    PrintResult,
    RecordPage,
    RecordView,
    ResidentRecord,
)
from local_server.errors import Conflict, InvalidQuery, RecordNotFound
from local_server.resend import Action, changed_fields, history_of, payload_of, requeue_failed

S = RecordState


def _view_query() -> Select[Any]:
    """Records with their queue entry's next attempt (absent once the centre answered)."""
    return select(*records.c, outbox.c.next_attempt_at).select_from(
        records.outerjoin(outbox, outbox.c.record_id == records.c.id)
    )


def new_record_id() -> str:
    """Time-ordered and unique: milliseconds since the epoch, then 48 random bits (hex)."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(6)}"


def new_submission_id(office_code: str) -> str:
    return f"{office_code}-{uuid.uuid4().hex}"


def encode_cursor(record_id: str) -> str:
    return base64.urlsafe_b64encode(record_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidQuery("cursor is not one this node handed out", "cursor_invalid") from None
    if not raw.isalnum():
        raise InvalidQuery("cursor is not one this node handed out", "cursor_invalid")
    return raw


def _view(row: Row[Any], history: list[PastSubmission] | None = None) -> RecordView:
    decision = None
    if row.decision_status is not None:
        auth = row.authorisation
        decision = DecisionView(
            status=row.decision_status,
            reason=row.decision_reason,
            authorisation=Authorisation.model_validate_json(auth) if auth else None,
        )
    return RecordView(
        id=row.id,
        nik=row.nik,
        state=RecordState(row.state),
        submission_id=row.submission_id,
        attempts=row.attempts,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        decision=decision,
        created_at=row.created_at,
        updated_at=row.updated_at,
        printed_at=row.printed_at,
        history=history or [],
    )


class RecordService:
    def __init__(self, engine: AsyncEngine, settings: LocalSettings, worker: SyncWorker) -> None:
        self._engine = engine
        self._settings = settings
        self._worker = worker

    async def record(self, resident: ResidentRecord) -> RecordView:
        """Store the record and its queue entry in one transaction, then wake the pusher."""
        payload = payload_of(resident)
        record_id = new_record_id()
        now = utcnow()
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(records).values(
                        id=record_id,
                        nik=resident.nik,
                        state=S.QUEUED.value,
                        submission_id=new_submission_id(self._settings.office_code),
                        payload=payload,
                        payload_bytes=len(payload.encode("utf-8")),
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await enqueue(conn, record_id, len(payload.encode("utf-8")))
        except IntegrityError:
            raise self._nik_in_flight(resident.nik) from None
        self._worker.wake()
        return await self.get(record_id)

    @staticmethod
    def _nik_in_flight(nik: str) -> Conflict:
        return Conflict(
            f"a record with NIK {mask_nik(nik)} is still in flight on this node "
            "(queued, uploading, awaiting decision or in review); wait for its decision",
            "nik_in_flight",
        )

    async def get(self, record_id: str) -> RecordView:
        async with self._engine.connect() as conn:
            row = (await conn.execute(_view_query().where(records.c.id == record_id))).one_or_none()
            if row is None:
                raise RecordNotFound(record_id)
            history = await history_of(conn, [record_id])
        return _view(row, history.get(record_id))

    async def list_records(
        self, state: RecordState | None, limit: int, cursor: str | None, nik: str | None = None
    ) -> RecordPage:
        query = _view_query().order_by(records.c.id).limit(limit + 1)
        if state is not None:
            query = query.where(records.c.state == state.value)
        if nik is not None:
            query = query.where(records.c.nik == nik)
        if cursor is not None:
            query = query.where(records.c.id > decode_cursor(cursor))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            more, rows = len(rows) > limit, rows[:limit]
            history = await history_of(conn, [r.id for r in rows])
        views = [_view(r, history.get(r.id)) for r in rows]
        next_cursor = encode_cursor(views[-1].id) if more else None
        return RecordPage(records=views, next_cursor=next_cursor)

    async def status(self) -> NodeStatus:
        pending_states = [s.value for s in PENDING_UPLOAD]
        async with self._engine.connect() as conn:
            counted = (
                await conn.execute(select(records.c.state, func.count()).group_by(records.c.state))
            ).all()
            oldest = (
                await conn.execute(
                    select(records.c.created_at)
                    .where(records.c.state.in_(pending_states))
                    .order_by(records.c.created_at)
                    .limit(1)
                )
            ).scalar_one_or_none()
        counts = {s.value: 0 for s in RecordState}
        counts.update({state: int(n) for state, n in counted})
        health = self._worker.health
        oldest_seconds = None
        if oldest is not None:
            oldest_seconds = max(0.0, (utcnow() - oldest).total_seconds())
        return NodeStatus(
            office_code=self._settings.office_code,
            counts=counts,
            pending=sum(counts[s] for s in pending_states),
            oldest_pending_seconds=oldest_seconds,
            last_success_at=health.last_success_at,
            last_error=health.last_error,
            central=health.snapshot(),
        )

    async def pending(self, limit: int) -> PendingUploads:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    _view_query()
                    .where(records.c.state.in_([s.value for s in PENDING_UPLOAD]))
                    .order_by(records.c.created_at, records.c.id)
                    .limit(limit)
                )
            ).all()
        now = utcnow()
        held = self._worker.held_back_because()
        return PendingUploads(
            uploads=[
                PendingUpload(
                    id=r.id,
                    nik=mask_nik(r.nik),
                    state=RecordState(r.state),
                    attempts=r.attempts,
                    last_error=r.last_error,
                    next_attempt_at=r.next_attempt_at,
                    age=max(0.0, (now - r.created_at).total_seconds()),
                    held_back=held if r.state == RecordState.QUEUED.value else None,
                )
                for r in rows
            ]
        )

    async def print_card(self, record_id: str) -> PrintResult:
        """Allow printing only with an approval whose signature is the centre's."""
        view = await self.get(record_id)
        authorisation = self._printable(view)
        key_b64 = self._settings.central_public_key or await self._worker.inbox.get(PUBLIC_KEY_KEY)
        if key_b64 is None:
            raise Conflict(
                "the centre's public key is not known yet; cannot check the authorisation",
                "public_key_unknown",
            )
        if not verify(authorisation, load_public_key(key_b64)):
            raise Conflict(
                "the print authorisation's signature does not verify with the centre's key",
                "signature_invalid",
            )
        now = utcnow()
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(records)
                .where(
                    records.c.id == record_id,
                    records.c.state.in_([s.value for s in sources_of(S.PRINTED)]),
                )
                .values(state=S.PRINTED.value, printed_at=now, updated_at=now)
            )
        if not result.rowcount:  # printed by a concurrent request in between
            raise Conflict("the card for this record has already been printed", "already_printed")
        return PrintResult(
            id=view.id,
            nik=view.nik,
            state=S.PRINTED,
            approval_no=authorisation.approval_no,
            printed_at=now,
        )

    @staticmethod
    def _printable(view: RecordView) -> Authorisation:
        refusals = {
            S.PRINTED: ("the card for this record has already been printed", "already_printed"),
            S.REJECTED: ("the centre rejected this record; no card may be printed", "rejected"),
            S.FAILED: ("the centre refused this record as invalid; fix and retry", "failed"),
            S.REVIEW: ("the record is in manual review at the centre", "in_review"),
        }
        if view.state in refusals:
            raise Conflict(*refusals[view.state])
        if view.state is not S.APPROVED:
            raise Conflict("the centre has not approved this record yet", "not_approved")
        authorisation = view.decision.authorisation if view.decision else None
        if authorisation is None:
            raise Conflict("the approval carries no print authorisation", "authorisation_missing")
        if authorisation.nik != view.nik or authorisation.submission_id != view.submission_id:
            raise Conflict(
                "the print authorisation is for another NIK or submission", "authorisation_mismatch"
            )
        return authorisation

    async def retry(self, record_id: str) -> RecordView:
        """Put a failed record back in the queue as it is, under a fresh submission id."""
        return await self._resend(record_id, "retry")

    async def correct(self, record_id: str, changes: dict[str, Any]) -> RecordView:
        """Fix a failed record and re-send it under a fresh submission id (PUT /records/{id}).

        Fields in `changes` replace the stored ones (top level: `biometrics` as a whole); the
        result is checked like a new recording (422 naming the broken rule).
        """
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(records.c.state, records.c.payload, records.c.submission_id).where(
                        records.c.id == record_id
                    )
                )
            ).one_or_none()
        if row is None:
            raise RecordNotFound(record_id)
        if row.state != S.FAILED.value:
            raise self._not_failed(row.state, "corrected")
        stored = json.loads(row.payload)
        try:
            corrected = ResidentRecord.model_validate({**stored, **changes})
        except ValidationError as exc:
            raise body_validation_error(exc) from None
        return await self._resend(
            record_id,
            "correction",
            corrected=corrected,
            changed=changed_fields(stored, corrected),
            expected_submission_id=row.submission_id,
        )

    async def _resend(
        self,
        record_id: str,
        action: Action,
        *,
        corrected: ResidentRecord | None = None,
        changed: list[str] | None = None,
        expected_submission_id: str | None = None,
    ) -> RecordView:
        try:
            async with self._engine.begin() as conn:
                done = await requeue_failed(
                    conn,
                    record_id,
                    submission_id=new_submission_id(self._settings.office_code),
                    now=utcnow(),
                    action=action,
                    corrected=corrected,
                    changed=changed or (),
                    expected_submission_id=expected_submission_id,
                )
        except IntegrityError:
            nik = corrected.nik if corrected is not None else (await self.get(record_id)).nik
            raise self._nik_in_flight(nik) from None
        if not done:
            view = await self.get(record_id)  # 404 if unknown
            raise self._not_failed(view.state, "retried" if action == "retry" else "corrected")
        self._worker.wake()
        return await self.get(record_id)

    @staticmethod
    def _not_failed(state: str, verb: str) -> Conflict:
        return Conflict(f"only a failed record can be {verb}; this one is {state}", "not_failed")
