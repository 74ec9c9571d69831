"""HTTP routes offices use (intake, decisions, status) and the public ones (keys, health)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError

from central_server.auth import Office, State
from central_server.body import read_json
from central_server.feed import DEFAULT_LIMIT, MAX_LIMIT, MAX_WAIT_SECONDS, decisions_after
from central_server.intake import intake, shed_load
from central_server.queries import enrollment_view
from ektp_sync.body_limits import body_validation_error
from ektp_sync.wire import (
    DecisionsPage,
    EnrollmentBatch,
    EnrollmentView,
    IntakeResponse,
    PublicKey,
)

office_router = APIRouter()
public_router = APIRouter()

_BATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": EnrollmentBatch.model_json_schema()}},
    }
}


@office_router.post("/enrollments", response_model=IntakeResponse, openapi_extra=_BATCH_BODY)
async def post_enrollments(request: Request, office: Office, state: State) -> IntakeResponse:
    """Read the body ourselves: gzip and size caps, then per-item checks (not all-or-nothing)."""
    await shed_load(state)
    payload = await read_json(request, state.body_limits)
    try:
        batch = EnrollmentBatch.model_validate(payload)
    except ValidationError as exc:
        raise body_validation_error(exc) from None
    return await intake(state, office, batch.items)


@office_router.get("/decisions", response_model=DecisionsPage)
async def get_decisions(
    office: Office,
    state: State,
    after: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS)] = 0.0,
) -> DecisionsPage:
    """`wait` (an addition to the contract): hold an empty answer up to that many seconds."""
    return await decisions_after(state, office, after, limit, wait)


@office_router.get("/enrollments/{submission_id}", response_model=EnrollmentView)
async def get_enrollment(submission_id: str, office: Office, state: State) -> EnrollmentView:
    return await enrollment_view(state, submission_id, office)


@public_router.get("/keys", response_model=PublicKey)
async def get_keys(state: State) -> PublicKey:
    return PublicKey(public_key=state.signer.public_key_b64)


@public_router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
