"""The office's record use-cases: record, look up, list, print, retry, and the operator's view."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
import uuid
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

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
    PendingUpload,
    PendingUploads,
    PrintResult,
    RecordPage,
    RecordView,
    ResidentRecord,
)
from local_server.errors import Conflict, InvalidQuery, RecordNotFound

S = RecordState

_VIEW_COLUMNS = (*records.c, outbox.c.next_attempt_at)


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


def _view(row: Row[Any]) -> RecordView:
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
    )


class RecordService:
    def __init__(self, engine: AsyncEngine, settings: LocalSettings, worker: SyncWorker) -> None:
        self._engine = engine
        self._settings = settings
        self._worker = worker

    async def record(self, resident: ResidentRecord) -> RecordView:
        """Store the record and its queue entry in one transaction, then wake the pusher."""
        payload = json.dumps(resident.model_dump(mode="json"), separators=(",", ":"))
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
            row = (
                await conn.execute(
                    select(*_VIEW_COLUMNS)
                    .select_from(records.outerjoin(outbox, outbox.c.record_id == records.c.id))
                    .where(records.c.id == record_id)
                )
            ).one_or_none()
        if row is None:
            raise RecordNotFound(record_id)
        return _view(row)

    async def list_records(
        self, state: RecordState | None, limit: int, cursor: str | None
    ) -> RecordPage:
        query = (
            select(*_VIEW_COLUMNS)
            .select_from(records.outerjoin(outbox, outbox.c.record_id == records.c.id))
            .order_by(records.c.id)
            .limit(limit + 1)
        )
        if state is not None:
            query = query.where(records.c.state == state.value)
        if cursor is not None:
            query = query.where(records.c.id > decode_cursor(cursor))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        views = [_view(r) for r in rows[:limit]]
        next_cursor = encode_cursor(views[-1].id) if len(rows) > limit else None
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
                    select(*_VIEW_COLUMNS)
                    .select_from(records.outerjoin(outbox, outbox.c.record_id == records.c.id))
                    .where(records.c.state.in_([s.value for s in PENDING_UPLOAD]))
                    .order_by(records.c.created_at, records.c.id)
                    .limit(limit)
                )
            ).all()
        now = utcnow()
        return PendingUploads(
            uploads=[
                PendingUpload(
                    id=r.id,
                    nik=mask_nik(r.nik),
                    state=RecordState(r.state),
                    attempts=r.attempts,
                    last_error=r.last_error,
                    next_attempt_at=r.next_attempt_at,
                    age_seconds=max(0.0, (now - r.created_at).total_seconds()),
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
        """Put a failed record back in the queue under a fresh submission id.

        The centre answers a re-sent submission id with its first answer (`invalid`), so the
        old id is spent; the new one cannot double an enrolment since invalid items enrol nothing.
        """
        now = utcnow()
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(records)
                    .where(records.c.id == record_id, records.c.state == S.FAILED.value)
                    .values(
                        state=S.QUEUED.value,
                        submission_id=new_submission_id(self._settings.office_code),
                        attempts=0,
                        last_error=None,
                        updated_at=now,
                    )
                    .returning(records.c.payload_bytes, records.c.nik)
                )
                row = result.one_or_none()
                if row is not None:
                    await enqueue(conn, record_id, row.payload_bytes)
        except IntegrityError:
            view = await self.get(record_id)
            raise self._nik_in_flight(view.nik) from None
        if row is None:
            view = await self.get(record_id)  # 404 if unknown
            raise Conflict(
                f"only a failed record can be retried; this one is {view.state}", "not_failed"
            )
        self._worker.wake()
        return await self.get(record_id)
