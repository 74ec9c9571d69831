"""HTTP routes offices use (intake, decisions, status) and the public ones (keys, health,
metrics)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import ValidationError

from central_server.deps import (
    BodyLimitsPart,
    FeedPart,
    IntakePart,
    MetricsPart,
    Office,
    SignerPart,
    ViewsPart,
    injected_faults,
)
from central_server.feed import DEFAULT_LIMIT, MAX_LIMIT, MAX_WAIT_SECONDS
from central_server.metrics import CONTENT_TYPE
from ektp_sync.body import body_validation_error, read_json
from ektp_sync.openapi import body_schema, errors, json_body
from ektp_sync.wire import (
    DecisionsPage,
    EnrollmentBatch,
    EnrollmentView,
    IntakeResponse,
    PublicKey,
)

office_router = APIRouter(
    dependencies=[Depends(injected_faults)], responses=errors(401, 403, 422, 503)
)
public_router = APIRouter()
metrics_router = APIRouter()  # at the root only, where Prometheus looks

#: the bodies read by hand, among the OpenAPI components (`ektp_sync.openapi.install`)
BODY_SCHEMAS = {"EnrollmentBatch": body_schema(EnrollmentBatch)}


@office_router.post(
    "/enrollments",
    response_model=IntakeResponse,
    responses=errors(400, 413, 415),
    openapi_extra=json_body(EnrollmentBatch),
)
async def post_enrollments(
    request: Request, office: Office, intake: IntakePart, limits: BodyLimitsPart
) -> IntakeResponse:
    """Read the body ourselves: gzip and size caps, then per-item checks (not all-or-nothing)."""
    await intake.shed_load()
    payload = await read_json(request, limits)
    try:
        batch = EnrollmentBatch.model_validate(payload)
    except ValidationError as exc:
        raise body_validation_error(exc) from None
    return await intake.take(office, batch.items)


@office_router.get("/decisions", response_model=DecisionsPage)
async def get_decisions(
    office: Office,
    feed: FeedPart,
    after: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS)] = 0.0,
) -> DecisionsPage:
    """`wait` (an addition to the contract): hold an empty answer up to that many seconds."""
    return await feed.page(office, after, limit, wait)


@office_router.get(
    "/enrollments/{submission_id}", response_model=EnrollmentView, responses=errors(404)
)
async def get_enrollment(submission_id: str, office: Office, views: ViewsPart) -> EnrollmentView:
    return await views.enrollment(submission_id, office)


@public_router.get("/keys", response_model=PublicKey)
async def get_keys(signer: SignerPart) -> PublicKey:
    return signer.published()


@public_router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@metrics_router.get("/metrics", response_class=Response)
async def prometheus_metrics(metrics: MetricsPart, views: ViewsPart) -> Response:
    """Prometheus text: intake, decisions, de-duplication (no auth, no personal data; summed
    over every worker process of `--workers N`)."""
    identities, pending = await views.totals()
    return Response(metrics.render(identities, pending), media_type=CONTENT_TYPE)
