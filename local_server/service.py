"""The office's record use-cases: record, look up, list, print, re-send; the operator's view.

No SQL here: the records live behind `store.records.RecordStore`, the link's state in the sync
worker, the estimates in `figures`. Errors are the node's own (`errors`); the HTTP edge turns
them into answers.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import secrets
import time
from typing import Any

from pydantic import ValidationError

from ektp_sync.body import body_validation_error
from ektp_sync.config import LocalSettings
from ektp_sync.domain.nik import mask_nik
from ektp_sync.domain.operators import Operator
from ektp_sync.domain.states import PENDING_UPLOAD, RecordState
from ektp_sync.sealing import DataKey
from ektp_sync.storage import utcnow
from ektp_sync.wire import (
    Authorisation,
    NodeStatus,
    PendingUpload,
    PendingUploads,
    PrintResult,
    RecordDetail,
    RecordPage,
    RecordView,
    ResidentRecord,
)
from local_server.errors import InvalidQuery, RecordConflict, RecordNotFound
from local_server.figures import Figures, needs_action
from local_server.store.packets import SealedFile
from local_server.store.records import Action, RecordStore
from local_server.sync import packing
from local_server.sync.meters import ExchangeCounts
from local_server.sync.worker import SyncWorker

S = RecordState

logger = logging.getLogger(__name__)


def _time_ordered(random_bytes: int) -> str:
    """Milliseconds since the epoch (12 hex digits), then `random_bytes` random bytes (hex):
    sorts in the order made, across milliseconds."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(random_bytes)}"


def new_record_id() -> str:
    """Time-ordered and unique: milliseconds since the epoch, then 48 random bits."""
    return _time_ordered(6)


def new_submission_id(office_code: str) -> str:
    """Unique across offices and time-ordered within one: the office code, milliseconds since
    the epoch, then 80 random bits (32 hex digits in all, as long as the uuid4 it replaces).
    The centre treats it as an opaque string; its time order keeps each recording's entry in
    the unique index next to the previous one (a uuid4 touched a random page each time)."""
    return f"{office_code}-{_time_ordered(10)}"


def encode_cursor(record_id: str) -> str:
    return base64.urlsafe_b64encode(record_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidQuery(
            "cursor", "cursor is not one this node handed out", "cursor_invalid"
        ) from None
    if not raw.isalnum():
        raise InvalidQuery("cursor", "cursor is not one this node handed out", "cursor_invalid")
    return raw


def changed_fields(stored: dict[str, Any], corrected: ResidentRecord) -> list[str]:
    """Top-level fields whose value differs between the stored payload and the correction."""
    new = corrected.model_dump(mode="json")
    return sorted(name for name in new.keys() | stored.keys() if stored.get(name) != new.get(name))


class RecordService:
    def __init__(
        self,
        store: RecordStore,
        settings: LocalSettings,
        worker: SyncWorker,
        figures: Figures,
        key: DataKey,
    ) -> None:
        self._store = store
        self._key = key
        self._settings = settings
        self._worker = worker
        self._figures = figures

    async def record(self, resident: ResidentRecord) -> RecordView:
        """Store the record and its queue entry durably (one transaction), then wake the pusher;
        the answer is the record as written (no read back)."""
        record_id = new_record_id()
        submission_id = new_submission_id(self._settings.office_code)
        files: list[SealedFile] = []
        if not self._settings.inline_attachments:
            resident, files = packing.split(
                resident, record_id, self._key, self._settings.packet_min_bytes
            )
        view = await self._store.add(record_id, submission_id, resident, utcnow(), files)
        self._worker.wake()
        logger.info("record stored and queued", extra=_ids(record_id, submission_id))
        return view

    async def get(self, record_id: str) -> RecordView:
        view = await self._store.view(record_id)
        if view is None:
            raise RecordNotFound(record_id)
        return view

    async def detail(self, record_id: str) -> RecordDetail:
        """The record with its place in the queue and the estimate of when it can be printed."""
        return await self._figures.detail(await self.get(record_id))

    async def list_records(
        self, state: RecordState | None, limit: int, cursor: str | None, nik: str | None = None
    ) -> RecordPage:
        after = decode_cursor(cursor) if cursor is not None else None
        views, more = await self._store.page(state, limit, after, nik)
        next_cursor = encode_cursor(views[-1].id) if more else None
        return RecordPage(records=views, next_cursor=next_cursor)

    async def status(self) -> NodeStatus:
        census = await self._store.census()
        counts = {s.value: 0 for s in RecordState}
        counts.update(census.by_state)
        link = self._worker.link
        oldest_seconds = None
        if census.oldest_pending_at is not None:
            oldest_seconds = max(0.0, (utcnow() - census.oldest_pending_at).total_seconds())
        backlog = await self._figures.backlog()
        history, summary = self._figures.link_history()
        return NodeStatus(
            office_code=self._settings.office_code,
            counts=counts,
            pending=sum(counts[s.value] for s in PENDING_UPLOAD),
            oldest_pending_seconds=oldest_seconds,
            last_success_at=link.health.last_success_at,
            last_error=link.health.last_error,
            central=link.snapshot(),
            pending_bytes=backlog.bytes,
            link=link.figures(),
            eta_seconds=self._figures.eta_seconds(backlog.bytes),
            link_history=history,
            link_summary=summary,
            needs_action=needs_action(counts),
            centre_key=self._worker.trust.status(),
            packets=await self._worker.uploader.status(),
        )

    def exchange_counts(self) -> ExchangeCounts:
        """The link's counters since this process started (for /metrics)."""
        return self._worker.link.counts

    def throughput(self, end: dt.datetime, span: dt.timedelta, bars: int) -> list[float]:
        """Bytes per second the centre acknowledged in `bars` slices of the `span` before `end`
        (the console's chart; since this process started)."""
        return self._worker.link.series.rates(end, span, bars)

    async def pending(self, limit: int) -> PendingUploads:
        views = await self._store.pending(limit)
        now = utcnow()
        held = self._worker.link.held_back_because()
        return PendingUploads(
            uploads=[
                PendingUpload(
                    id=v.id,
                    nik=mask_nik(v.nik),
                    state=v.state,
                    attempts=v.attempts,
                    last_error=v.last_error,
                    next_attempt_at=v.next_attempt_at,
                    age=max(0.0, (now - v.created_at).total_seconds()),
                    held_back=held if v.state is S.QUEUED else None,
                )
                for v in views
            ]
        )

    async def print_card(self, record_id: str, by: Operator) -> PrintResult:
        """Allow printing only with an approval whose signature is the centre's."""
        view = await self.get(record_id)
        authorisation = self._printable(view)
        trust = self._worker.trust
        if trust.key is None:
            raise RecordConflict(
                "the centre's public key is not known yet; cannot check the authorisation",
                "public_key_unknown",
            )
        if not trust.authorised(authorisation):
            raise RecordConflict(
                "the print authorisation's signature does not verify with the centre's key",
                "signature_invalid",
            )
        now = utcnow()
        if not await self._store.mark_printed(record_id, now, by):
            # printed by a concurrent request in between
            raise RecordConflict(
                "the card for this record has already been printed", "already_printed"
            )
        logger.info(
            "card printed under approval %s",
            authorisation.approval_no,
            extra=_ids(record_id, view.submission_id),
        )
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
            raise RecordConflict(*refusals[view.state])
        if view.state is not S.APPROVED:
            raise RecordConflict("the centre has not approved this record yet", "not_approved")
        authorisation = view.decision.authorisation if view.decision else None
        if authorisation is None:
            raise RecordConflict(
                "the approval carries no print authorisation", "authorisation_missing"
            )
        if authorisation.nik != view.nik or authorisation.submission_id != view.submission_id:
            raise RecordConflict(
                "the print authorisation is for another NIK or submission", "authorisation_mismatch"
            )
        return authorisation

    async def retry(self, record_id: str, by: Operator) -> RecordView:
        """Put a failed record back in the queue as it is, under a fresh submission id."""
        return await self._resend(record_id, "retry", by=by)

    async def correct(self, record_id: str, changes: dict[str, Any], by: Operator) -> RecordView:
        """Fix a failed record and re-send it under a fresh submission id (PUT /records/{id}).

        Fields in `changes` replace the stored ones (top level: `biometrics` as a whole); the
        result is checked like a new recording (a 422 naming the broken rule).
        """
        stored = await self._store.stored(record_id)
        if stored is None:
            raise RecordNotFound(record_id)
        if stored.state is not S.FAILED:
            raise self._not_failed(stored.state, "corrected")
        try:
            corrected = ResidentRecord.model_validate({**stored.payload, **changes})
        except ValidationError as exc:
            raise body_validation_error(exc) from None
        return await self._resend(
            record_id,
            "correction",
            corrected=corrected,
            changed=changed_fields(stored.payload, corrected),
            expected_submission_id=stored.submission_id,
            by=by,
        )

    async def _resend(
        self,
        record_id: str,
        action: Action,
        *,
        by: Operator,
        corrected: ResidentRecord | None = None,
        changed: list[str] | None = None,
        expected_submission_id: str | None = None,
    ) -> RecordView:
        files: list[SealedFile] | None = None
        if corrected is not None and not self._settings.inline_attachments:
            corrected, files = packing.split_correction(
                corrected, record_id, self._key, self._settings.packet_min_bytes
            )
        done = await self._store.resend(
            record_id,
            submission_id=new_submission_id(self._settings.office_code),
            now=utcnow(),
            action=action,
            corrected=corrected,
            changed=changed or (),
            expected_submission_id=expected_submission_id,
            by=by,
            files=files,
        )
        if not done:
            view = await self.get(record_id)  # RecordNotFound if unknown
            raise self._not_failed(view.state, "retried" if action == "retry" else "corrected")
        self._worker.wake()
        view = await self.get(record_id)
        logger.info(
            "failed record re-sent (%s) under a new submission",
            action,
            extra=_ids(record_id, view.submission_id),
        )
        return view

    @staticmethod
    def _not_failed(state: str, verb: str) -> RecordConflict:
        return RecordConflict(
            f"only a failed record can be {verb}; this one is {state}", "not_failed"
        )


def _ids(record_id: str, submission_id: str) -> dict[str, str]:
    """The `extra` of a log line about one record (docs/operators.md, "Logs")."""
    return {"record_id": record_id, "submission_id": submission_id}
