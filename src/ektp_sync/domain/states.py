"""The record state machine of the local node, in one place.

queued → uploading → awaiting_decision → approved | rejected | review; review → approved | rejected;
approved → printed; failed = needs an operator. A decision from the centre may overtake the
upload acknowledgement (the response was lost, the centre decided anyway), so decisions are
accepted from queued and uploading too.
"""

from __future__ import annotations

from enum import StrEnum


class RecordState(StrEnum):
    QUEUED = "queued"
    UPLOADING = "uploading"
    AWAITING_DECISION = "awaiting_decision"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVIEW = "review"
    PRINTED = "printed"
    FAILED = "failed"


S = RecordState

#: A record with the same NIK in one of these states makes a new recording answer 409.
IN_FLIGHT: frozenset[RecordState] = frozenset(
    {S.QUEUED, S.UPLOADING, S.AWAITING_DECISION, S.REVIEW}
)
#: Not yet accepted by the centre: what operators see as "waiting to go up".
PENDING_UPLOAD: frozenset[RecordState] = frozenset({S.QUEUED, S.UPLOADING})
#: The centre has said its last word (printing may still follow an approval).
DECIDED: frozenset[RecordState] = frozenset({S.APPROVED, S.REJECTED, S.PRINTED})

_DECISION_TARGETS = frozenset({S.APPROVED, S.REJECTED, S.REVIEW})

TRANSITIONS: dict[RecordState, frozenset[RecordState]] = {
    S.QUEUED: frozenset({S.UPLOADING}) | _DECISION_TARGETS,
    S.UPLOADING: frozenset({S.QUEUED, S.AWAITING_DECISION, S.FAILED}) | _DECISION_TARGETS,
    S.AWAITING_DECISION: _DECISION_TARGETS,
    S.REVIEW: frozenset({S.APPROVED, S.REJECTED}),
    S.APPROVED: frozenset({S.PRINTED}),
    S.REJECTED: frozenset(),
    S.PRINTED: frozenset(),
    S.FAILED: frozenset({S.QUEUED}),
}


class InvalidTransition(ValueError):
    def __init__(self, current: RecordState, target: RecordState) -> None:
        self.current, self.target = current, target
        super().__init__(f"a record in state {current} cannot become {target}")


def can_transition(current: RecordState, target: RecordState) -> bool:
    return target in TRANSITIONS[current]


def check_transition(current: RecordState, target: RecordState) -> RecordState:
    """Return `target` if the move is allowed; raise InvalidTransition otherwise."""
    if not can_transition(current, target):
        raise InvalidTransition(current, target)
    return target


def sources_of(target: RecordState) -> frozenset[RecordState]:
    """Every state from which `target` may be reached (for guarded UPDATE … WHERE state IN …)."""
    return frozenset(s for s, targets in TRANSITIONS.items() if target in targets)
