"""HTTP routes of the office node (prefix /api/v1), exactly as the contract fixes them."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from ektp_sync.domain.states import RecordState
from ektp_sync.wire import (
    ErrorBody,
    NodeStatus,
    PendingUploads,
    PrintResult,
    RecordPage,
    RecordView,
    ResidentRecord,
)
from local_server.errors import PayloadTooLarge
from local_server.service import RecordService

#: a record is at most 2 MiB of attachments (decoded), i.e. ~2.7 MiB as base64, plus text
MAX_RECORD_BODY_BYTES = 4 * 1024 * 1024

router = APIRouter(prefix="/api/v1")
health_router = APIRouter()

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
    413: {"model": ErrorBody},
}


def _service(request: Request) -> RecordService:
    service: RecordService = request.app.state.service
    return service


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"request body of {declared} bytes exceeds {limit} bytes", "body_size"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            # stop now: an absent or lying Content-Length must not make us buffer it all
            raise PayloadTooLarge(f"request body exceeds {limit} bytes", "body_size")
        chunks.append(chunk)
    return b"".join(chunks)


async def _resident_from(request: Request) -> ResidentRecord:
    raw = await _read_limited(request, MAX_RECORD_BODY_BYTES)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        # the same shape FastAPI gives for a body it could not parse itself
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", getattr(exc, "pos", 0)),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": str(exc)[:200]},
                }
            ]
        ) from None
    try:
        return ResidentRecord.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


@router.post(
    "/records",
    status_code=201,
    response_model=RecordView,
    responses=_ERRORS,
    # the body is read by hand (size cap before parsing); document it all the same
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ResidentRecord.model_json_schema()}},
        }
    },
)
async def create_record(request: Request) -> RecordView:
    return await _service(request).record(await _resident_from(request))


@router.get("/records/{record_id}", response_model=RecordView, responses=_ERRORS)
async def get_record(record_id: str, request: Request) -> RecordView:
    return await _service(request).get(record_id)


@router.get("/records", response_model=RecordPage)
async def list_records(
    request: Request,
    state: RecordState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> RecordPage:
    return await _service(request).list_records(state, limit, cursor)


@router.get("/status", response_model=NodeStatus)
async def node_status(request: Request) -> NodeStatus:
    return await _service(request).status()


@router.get("/uploads/pending", response_model=PendingUploads)
async def pending_uploads(
    request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> PendingUploads:
    return await _service(request).pending(limit)


@router.post("/records/{record_id}/print", response_model=PrintResult, responses=_ERRORS)
async def print_card(record_id: str, request: Request) -> PrintResult:
    return await _service(request).print_card(record_id)


@router.post("/records/{record_id}/retry", response_model=RecordView, responses=_ERRORS)
async def retry_record(record_id: str, request: Request) -> RecordView:
    return await _service(request).retry(record_id)


@router.get("/healthz")
@health_router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
