"""Intake of enrollment batches: check each item, store it idempotently, answer per item."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select

from central_server.db import insert_ignoring_conflicts
from central_server.errors import Unavailable
from central_server.state import CentralState
from central_server.tables import attachments, enrollments
from central_server.validation import CheckedItem, check_item
from ektp_sync.storage import utcnow
from ektp_sync.wire import IntakeResponse, IntakeResult

SHED_RETRY_AFTER_SECONDS = 5


async def shed_load(state: CentralState) -> None:
    """Refuse new work while the dedup backlog is over the limit, before reading items."""
    async with state.engine.connect() as conn:
        backlog = await conn.scalar(
            select(func.count()).select_from(enrollments).where(enrollments.c.status == "pending")
        )
    if (backlog or 0) > state.settings.max_backlog:
        raise Unavailable(
            f"the centre has {backlog} submissions waiting for de-duplication; retry later",
            SHED_RETRY_AFTER_SECONDS,
            "backlog",
        )


def _row(item: CheckedItem, office_code: str) -> dict[str, Any]:
    return {
        "submission_id": item.submission_id,
        "office_code": office_code,
        "nik": item.nik,
        "status": "pending" if item.valid else "invalid",
        "errors": None if item.valid else item.errors,
        "record": item.record,
        "template": item.template,
        "recorded_at": item.recorded_at,
        "received_at": utcnow(),
    }


def _answer_for_existing(
    submission_id: str, office_code: str, stored: dict[str, Any]
) -> IntakeResult:
    """A re-sent item gets its first answer; a stranger's submission_id is refused."""
    if stored["office_code"] != office_code:
        return IntakeResult(
            submission_id=submission_id,
            status="invalid",
            errors=[
                f"submission_id: {submission_id} is already used by another office "
                "(rule submission_id_taken)"
            ],
        )
    if stored["status"] == "invalid":
        return IntakeResult(submission_id=submission_id, status="invalid", errors=stored["errors"])
    return IntakeResult(submission_id=submission_id, status="accepted")


def _answer_for_new(item: CheckedItem) -> IntakeResult:
    if item.valid:
        return IntakeResult(submission_id=item.submission_id, status="accepted")
    return IntakeResult(submission_id=item.echo_id, status="invalid", errors=item.errors)


async def intake(state: CentralState, office_code: str, raw_items: list[Any]) -> IntakeResponse:
    """Everything accepted is committed before the answer; nothing re-sent is stored twice."""
    checked = [check_item(raw, office_code) for raw in raw_items]
    # the first occurrence of an id in the batch is the one stored; repeats share its answer
    first: dict[str, CheckedItem] = {}
    for item in checked:
        if item.submission_id is not None:
            first.setdefault(item.submission_id, item)

    inserted: set[str] = set()
    existing: dict[str, dict[str, Any]] = {}
    if first:
        async with state.engine.begin() as conn:
            stmt = insert_ignoring_conflicts(conn, enrollments, "submission_id").returning(
                enrollments.c.submission_id
            )
            result = await conn.execute(stmt, [_row(item, office_code) for item in first.values()])
            inserted = set(result.scalars().all())
            files = [
                {"submission_id": sid, "name": name, "content": content}
                for sid in inserted
                for name, content in first[sid].attachments.items()
            ]
            if files:
                await conn.execute(insert(attachments), files)
            if len(inserted) < len(first):
                rows = await conn.execute(
                    select(
                        enrollments.c.submission_id,
                        enrollments.c.office_code,
                        enrollments.c.status,
                        enrollments.c.errors,
                    ).where(enrollments.c.submission_id.in_(set(first) - inserted))
                )
                existing = {row.submission_id: dict(row._mapping) for row in rows}
    if any(first[sid].valid for sid in inserted):
        state.wake.set()

    results = []
    for item in checked:
        sid = item.submission_id
        if sid is None:
            results.append(_answer_for_new(item))
        elif sid in inserted:
            results.append(_answer_for_new(first[sid]))
        else:
            results.append(_answer_for_existing(sid, office_code, existing[sid]))
    return IntakeResponse(results=results)
