"""HTTP routes for the admin key only: statistics, adjudication of reviews, fault injection."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from central_server.deps import DedupPart, FaultsPart, ViewsPart, admin_caller
from ektp_sync.body import GuardedJsonRoute
from ektp_sync.openapi import errors
from ektp_sync.wire import CentralStats, EnrollmentView, Faults, ReviewRequest

admin_router = APIRouter(
    dependencies=[Depends(admin_caller)],
    responses=errors(401, 403, 422),
    route_class=GuardedJsonRoute,  # bodies FastAPI parses: depth and text checked first
)


@admin_router.get("/stats", response_model=CentralStats)
async def get_stats(views: ViewsPart) -> CentralStats:
    return await views.stats()


@admin_router.post(
    "/reviews/{submission_id}", response_model=EnrollmentView, responses=errors(404, 409, 413)
)
async def post_review(
    submission_id: str, review: ReviewRequest, dedup: DedupPart, views: ViewsPart
) -> EnrollmentView:
    await dedup.adjudicate(submission_id, approve=review.decision == "approve")
    return await views.enrollment(submission_id)


@admin_router.get("/admin/faults", response_model=Faults)
async def get_faults(faults: FaultsPart) -> Faults:
    return faults.current


@admin_router.post("/admin/faults", response_model=Faults, responses=errors(413))
async def post_faults(change: Faults, faults: FaultsPart) -> Faults:
    return faults.update(change)
