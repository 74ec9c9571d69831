"""HTTP routes of the office node (prefix /api/v1): the contract's, PUT /records/{id} and the
audit trail. Every route of `router` needs an operator's token; print, retry and correct a
supervisor's. `health_router` (/healthz, /metrics) answers anyone."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import TypeAdapter, ValidationError

from ektp_sync.body import BodyLimits, body_validation_error, read_json
from ektp_sync.domain.states import RecordState
from ektp_sync.openapi import body_schema, errors, json_body
from ektp_sync.wire import (
    NodeStatus,
    PendingUploads,
    PrintResult,
    RecordDetail,
    RecordPage,
    RecordView,
    ResidentRecord,
)
from local_server import metrics
from local_server.audit import AuditPage, trail_of
from local_server.auth import CurrentOperator, Supervisor, current_operator
from local_server.errors import InvalidQuery
from local_server.guards import require_json
from local_server.service import RecordService

#: a record is at most 2 MiB of attachments (decoded), i.e. ~2.7 MiB as base64, plus text
MAX_RECORD_BODY_BYTES = 4 * 1024 * 1024
_RECORD_BODY = BodyLimits(raw_bytes=MAX_RECORD_BODY_BYTES, decoded_bytes=MAX_RECORD_BODY_BYTES)

router = APIRouter(
    prefix="/api/v1",
    dependencies=[Depends(current_operator)],
    # every route: no or an unknown token (401), a Host not of this node (421)
    responses=errors(401, 421, 422),
)
health_router = APIRouter()

#: a correction: any top-level fields of a record, checked once merged with the stored ones
_CHANGES = TypeAdapter(dict[str, Any])


def _correction_schema() -> dict[str, Any]:
    schema = body_schema(ResidentRecord)
    schema.pop("required", None)  # every field may be left out: it keeps its stored value
    schema["title"] = "Correction"
    return schema


#: the bodies read by hand, among the OpenAPI components (`ektp_sync.openapi.install`)
BODY_SCHEMAS = {"ResidentRecord": body_schema(ResidentRecord), "Correction": _correction_schema()}


def _service(request: Request) -> RecordService:
    service: RecordService = request.app.state.service
    return service


async def _json_body(request: Request) -> Any:
    require_json(request)
    return await read_json(request, _RECORD_BODY)


async def _resident_from(request: Request) -> ResidentRecord:
    try:
        return ResidentRecord.model_validate(await _json_body(request))
    except ValidationError as exc:
        raise body_validation_error(exc) from None


async def _changes_from(request: Request) -> dict[str, Any]:
    try:
        return _CHANGES.validate_python(await _json_body(request))
    except ValidationError as exc:
        raise body_validation_error(exc) from None


@router.post(
    "/records",
    status_code=201,
    response_model=RecordView,
    responses=errors(400, 409, 413, 415),
    # the body is read by hand (size cap before parsing); document it all the same
    openapi_extra=json_body(ResidentRecord),
)
async def create_record(request: Request) -> RecordView:
    return await _service(request).record(await _resident_from(request))


@router.get("/records/{record_id}", response_model=RecordDetail, responses=errors(404))
async def get_record(record_id: str, request: Request) -> RecordDetail:
    """Adds to the contract's fields `queue_position` and `printable_eta` (with its basis)."""
    return await _service(request).detail(record_id)


@router.get("/records", response_model=RecordPage)
async def list_records(
    request: Request,
    state: RecordState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    nik: Annotated[str | None, Query(pattern=r"^[0-9]{16}$")] = None,
) -> RecordPage:
    """`nik` (an addition to the contract): only that person's records, e.g. to find the
    record of a POST whose 201 was lost in a crash."""
    return await _service(request).list_records(state, limit, cursor, nik)


@router.get("/status", response_model=NodeStatus)
async def node_status(request: Request) -> NodeStatus:
    return await _service(request).status()


@router.get("/uploads/pending", response_model=PendingUploads)
async def pending_uploads(
    request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> PendingUploads:
    return await _service(request).pending(limit)


@router.post(
    "/records/{record_id}/print", response_model=PrintResult, responses=errors(403, 404, 409)
)
async def print_card(record_id: str, request: Request, operator: Supervisor) -> PrintResult:
    return await _service(request).print_card(record_id, operator)


@router.post(
    "/records/{record_id}/retry", response_model=RecordView, responses=errors(403, 404, 409)
)
async def retry_record(record_id: str, request: Request, operator: Supervisor) -> RecordView:
    return await _service(request).retry(record_id, operator)


@router.put(
    "/records/{record_id}",
    response_model=RecordView,
    responses=errors(400, 403, 404, 409, 413, 415),
    summary="Correct a failed record and re-send it (an addition to the contract)",
    openapi_extra=json_body(ResidentRecord, "Correction"),
)
async def correct_record(record_id: str, request: Request, operator: Supervisor) -> RecordView:
    """Fields given replace the stored ones; the record goes back to the queue under a new
    submission_id, and the spent one is kept in `history`. 409 unless the record is `failed`."""
    return await _service(request).correct(record_id, await _changes_from(request), operator)


@router.get("/audit", response_model=AuditPage)
async def audit_trail(
    request: Request,
    _operator: CurrentOperator,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(max_length=20)] = None,
    record_id: Annotated[str | None, Query(max_length=32)] = None,
) -> AuditPage:
    """What operators did (print, retry, correct), newest first; read-only: no route edits or
    deletes an entry. `after`: the `next_cursor` of the previous page."""
    before = None
    if after is not None:
        if not after.isdigit() or len(after) > 18:
            raise InvalidQuery("after", "cursor is not one this node handed out", "cursor_invalid")
        before = int(after)
    entries, more = await trail_of(request).page(limit, before, record_id)
    return AuditPage(entries=entries, next_cursor=str(entries[-1].id) if more else None)


@health_router.get("/api/v1/healthz")
@health_router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@health_router.get("/metrics", response_class=Response)
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus text of the node's figures (no auth, no personal data; docs/operators.md)."""
    body = await metrics.render(_service(request))
    return Response(body, media_type=metrics.CONTENT_TYPE)
