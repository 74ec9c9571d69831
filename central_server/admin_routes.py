"""HTTP routes for the admin key only: statistics, adjudication of reviews, fault injection."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from central_server.auth import State, admin_caller
from central_server.dedup.engine import DedupEngine
from central_server.queries import central_stats, enrollment_view
from ektp_sync.wire import CentralStats, EnrollmentView, Faults, ReviewRequest

admin_router = APIRouter(dependencies=[Depends(admin_caller)])


def _dedup(request: Request) -> DedupEngine:
    engine: DedupEngine = request.app.state.dedup
    return engine


@admin_router.get("/stats", response_model=CentralStats)
async def get_stats(state: State) -> CentralStats:
    return await central_stats(state)


@admin_router.post("/reviews/{submission_id}", response_model=EnrollmentView)
async def post_review(
    submission_id: str, review: ReviewRequest, request: Request, state: State
) -> EnrollmentView:
    await _dedup(request).adjudicate(submission_id, approve=review.decision == "approve")
    return await enrollment_view(state, submission_id)


@admin_router.get("/admin/faults", response_model=Faults)
async def get_faults(state: State) -> Faults:
    return state.faults.current


@admin_router.post("/admin/faults", response_model=Faults)
async def post_faults(change: Faults, state: State) -> Faults:
    return state.faults.update(change)
