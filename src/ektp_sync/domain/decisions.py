"""The centre's decision table (penunggalan), as a pure function of match scores, and the
statuses a submission goes through at the centre."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DecisionStatus(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    REVIEW = "review"


class SubmissionStatus(StrEnum):
    """Where a submission stands at the centre: `pending` until de-duplicated, then a decision's
    status (`review` until adjudicated); `invalid` when intake refused it, for good. `held`: an
    approval decided on the core while attachments of its manifest are still to arrive; it is
    neither signed nor published until they have (offices see it as `pending`)."""

    PENDING = "pending"
    HELD = "held"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVIEW = "review"
    INVALID = "invalid"


class IntakeStatus(StrEnum):
    """What intake answers for one item: stored to be decided, or refused for good."""

    ACCEPTED = "accepted"
    INVALID = "invalid"


class DecisionReason(StrEnum):
    NEW_IDENTITY = "new_identity"
    REISSUE = "reissue"
    NIK_CONFLICT = "nik_conflict"
    DUPLICATE_IDENTITY = "duplicate_identity"
    POSSIBLE_DUPLICATE = "possible_duplicate"
    ADJUDICATED = "adjudicated"


@dataclass(frozen=True)
class Thresholds:
    match: float = 0.85
    review: float = 0.70

    def __post_init__(self) -> None:
        if not 0.0 < self.review <= self.match <= 1.0:
            raise ValueError("thresholds must satisfy 0 < review <= match <= 1")


@dataclass(frozen=True)
class Verdict:
    status: DecisionStatus
    reason: DecisionReason

    @property
    def enrols_new_identity(self) -> bool:
        return self.reason is DecisionReason.NEW_IDENTITY


def decide(
    same_nik_similarity: float | None,
    best_other_similarity: float | None,
    thresholds: Thresholds = Thresholds(),
) -> Verdict:
    """Apply the decision table.

    `same_nik_similarity`: cosine to the identity already enrolled under this NIK, or None if the
    NIK is new. `best_other_similarity`: best cosine to any identity enrolled under another NIK,
    or None if there is none.
    """
    if same_nik_similarity is not None:
        if same_nik_similarity >= thresholds.match:
            return Verdict(DecisionStatus.APPROVED, DecisionReason.REISSUE)
        if same_nik_similarity >= thresholds.review:
            return Verdict(DecisionStatus.REVIEW, DecisionReason.POSSIBLE_DUPLICATE)
        return Verdict(DecisionStatus.REJECTED, DecisionReason.NIK_CONFLICT)
    if best_other_similarity is not None:
        if best_other_similarity >= thresholds.match:
            return Verdict(DecisionStatus.REJECTED, DecisionReason.DUPLICATE_IDENTITY)
        if best_other_similarity >= thresholds.review:
            return Verdict(DecisionStatus.REVIEW, DecisionReason.POSSIBLE_DUPLICATE)
    return Verdict(DecisionStatus.APPROVED, DecisionReason.NEW_IDENTITY)


def adjudicate(approve: bool) -> Verdict:
    """An adjudicator's answer to a `review`."""
    if approve:
        return Verdict(DecisionStatus.APPROVED, DecisionReason.ADJUDICATED)
    return Verdict(DecisionStatus.REJECTED, DecisionReason.DUPLICATE_IDENTITY)
