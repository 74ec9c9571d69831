"""The decision table and the record state machine, as pure functions."""

from __future__ import annotations

import itertools

import pytest

from ektp_sync.domain.decisions import Thresholds, adjudicate, decide
from ektp_sync.domain.states import (
    IN_FLIGHT,
    InvalidTransition,
    RecordState,
    can_transition,
    check_transition,
    sources_of,
)

S = RecordState


@pytest.mark.parametrize(
    ("same_nik", "best_other", "expected"),
    [
        (None, None, ("approved", "new_identity")),
        (None, 0.69, ("approved", "new_identity")),
        (0.85, None, ("approved", "reissue")),
        (0.99, 0.99, ("approved", "reissue")),
        (0.2, None, ("rejected", "nik_conflict")),
        (0.2, 0.95, ("rejected", "nik_conflict")),
        (None, 0.85, ("rejected", "duplicate_identity")),
        (None, 0.70, ("review", "possible_duplicate")),
        (None, 0.8499, ("review", "possible_duplicate")),
        (0.75, None, ("review", "possible_duplicate")),
    ],
)
def test_decision_table(same_nik: float | None, best_other: float | None, expected: tuple) -> None:
    verdict = decide(same_nik, best_other, Thresholds())
    assert (verdict.status, verdict.reason) == expected
    assert verdict.enrols_new_identity == (expected[1] == "new_identity")


def test_thresholds_configurable_and_checked() -> None:
    assert decide(None, 0.8, Thresholds(match=0.8, review=0.5)).reason == "duplicate_identity"
    with pytest.raises(ValueError):
        Thresholds(match=0.6, review=0.7)


def test_adjudication() -> None:
    assert (adjudicate(True).status, adjudicate(True).reason) == ("approved", "adjudicated")
    assert (adjudicate(False).status, adjudicate(False).reason) == (
        "rejected",
        "duplicate_identity",
    )


def test_contract_path_and_dead_ends() -> None:
    path = [S.QUEUED, S.UPLOADING, S.AWAITING_DECISION, S.REVIEW, S.APPROVED, S.PRINTED]
    for a, b in itertools.pairwise(path):
        assert check_transition(a, b) is b
    for final in (S.REJECTED, S.PRINTED):
        assert not any(can_transition(final, t) for t in S)
    with pytest.raises(InvalidTransition):
        check_transition(S.APPROVED, S.QUEUED)
    with pytest.raises(InvalidTransition):
        check_transition(
            S.QUEUED, S.FAILED
        )  # only the centre's refusal of an upload fails a record


def test_network_trouble_returns_to_queue_and_failed_can_retry() -> None:
    assert can_transition(S.UPLOADING, S.QUEUED)
    assert can_transition(S.FAILED, S.QUEUED)
    assert sources_of(S.PRINTED) == {S.APPROVED}
    assert IN_FLIGHT == {S.QUEUED, S.UPLOADING, S.AWAITING_DECISION, S.REVIEW}
