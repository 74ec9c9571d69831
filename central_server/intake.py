"""Intake of enrollment batches: check each item, store it idempotently, answer per item."""

from __future__ import annotations

import asyncio
from typing import Any

from central_server.errors import BacklogFull
from central_server.metrics import CentreMetrics
from central_server.store.intake import Arrival, IntakeStore, Known
from central_server.validation import CheckedItem, check_item
from ektp_sync.domain.decisions import IntakeStatus, SubmissionStatus
from ektp_sync.storage import utcnow
from ektp_sync.wire import IntakeResponse, IntakeResult

SHED_RETRY_AFTER_SECONDS = 5


class Intake:
    """Takes batches in; sets `arrived` after a commit that stored something to decide."""

    def __init__(
        self,
        store: IntakeStore,
        max_backlog: int,
        arrived: asyncio.Event,
        metrics: CentreMetrics | None = None,
    ) -> None:
        self._store = store
        self._max_backlog = max_backlog
        self.arrived = arrived
        self._metrics = metrics

    async def shed_load(self) -> None:
        """Refuse new work while the dedup backlog is over the limit, before reading items."""
        backlog = await self._store.backlog()
        if backlog > self._max_backlog:
            raise BacklogFull(backlog, SHED_RETRY_AFTER_SECONDS)

    async def take(self, office_code: str, raw_items: list[Any]) -> IntakeResponse:
        """Everything accepted is committed before the answer; nothing re-sent is stored twice."""
        checked = [check_item(raw, office_code) for raw in raw_items]
        # the first occurrence of an id in the batch is the one stored; repeats share its answer
        first: dict[str, CheckedItem] = {}
        for item in checked:
            if item.submission_id is not None:
                first.setdefault(item.submission_id, item)

        taken = await self._store.take_in(
            [_arrival(sid, item, office_code) for sid, item in first.items()]
        )
        if any(first[sid].valid for sid in taken.inserted):
            self.arrived.set()

        results = []
        counted: list[str] = []  # each item's result for /metrics
        for item in checked:
            sid = item.submission_id
            if sid is None:
                results.append(_answer_for_new(item))
            elif sid in taken.inserted and first[sid] is item:
                results.append(_answer_for_new(item))
            elif sid in taken.inserted:  # repeated in the same batch: the first one's answer
                results.append(_answer_for_new(first[sid]))
                counted.append("repeat")
                continue
            else:
                results.append(_answer_for_known(sid, office_code, taken.known[sid]))
                counted.append("repeat")
                continue
            counted.append(results[-1].status.value)
        if self._metrics is not None:
            self._metrics.took_in(counted)
        return IntakeResponse(results=results)


def _arrival(submission_id: str, item: CheckedItem, office_code: str) -> Arrival:
    return Arrival(
        submission_id=submission_id,
        office_code=office_code,
        status=SubmissionStatus.PENDING if item.valid else SubmissionStatus.INVALID,
        received_at=utcnow(),
        nik=item.nik,
        errors=None if item.valid else item.errors,
        record=item.record,
        template=item.template,
        recorded_at=item.recorded_at,
        attachments=item.attachments,
        manifest=item.manifest,
    )


def _answer_for_known(submission_id: str, office_code: str, known: Known) -> IntakeResult:
    """A re-sent item gets its first answer; a stranger's submission_id is refused."""
    if known.office_code != office_code:
        return IntakeResult(
            submission_id=submission_id,
            status=IntakeStatus.INVALID,
            errors=[
                f"submission_id: {submission_id} is already used by another office "
                "(rule submission_id_taken)"
            ],
        )
    if known.status is SubmissionStatus.INVALID:
        return IntakeResult(
            submission_id=submission_id, status=IntakeStatus.INVALID, errors=known.errors
        )
    return IntakeResult(submission_id=submission_id, status=IntakeStatus.ACCEPTED)


def _answer_for_new(item: CheckedItem) -> IntakeResult:
    if item.valid:
        return IntakeResult(submission_id=item.submission_id, status=IntakeStatus.ACCEPTED)
    return IntakeResult(submission_id=item.echo_id, status=IntakeStatus.INVALID, errors=item.errors)
