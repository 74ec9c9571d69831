"""The store's one way to change a record's state: moves checked against the state table."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from ektp_sync.domain.states import TRANSITIONS, InvalidTransition, RecordState
from local_server.store.transitions import Move, in_flight_of, move

S = RecordState


@pytest.mark.parametrize("target", list(RecordState))
def test_a_move_allows_exactly_the_states_the_table_allows(target: RecordState) -> None:
    sources = {s for s, targets in TRANSITIONS.items() if target in targets}
    if not sources:
        with pytest.raises(ValueError):
            move(target)
        return
    made = move(target)
    assert {s for s in RecordState if made.permits(s)} == sources


def test_a_move_the_table_forbids_cannot_be_made() -> None:
    with pytest.raises(InvalidTransition):
        move(S.QUEUED, only_from=[S.APPROVED])  # an approved record never goes back up
    with pytest.raises(InvalidTransition):
        move(S.PRINTED, only_from=[S.REVIEW])


def test_only_from_narrows_the_sources() -> None:
    requeue = move(S.QUEUED, only_from=[S.UPLOADING])
    assert requeue.permits(S.UPLOADING)
    assert not requeue.permits(S.FAILED)  # allowed by the table, but not this move


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_the_sql_guard_names_each_source(dialect: object) -> None:
    guard = move(S.APPROVED).allowed.compile(
        dialect=dialect, compile_kwargs={"literal_binds": True}
    )
    sql = str(guard)
    for state in ("queued", "uploading", "awaiting_decision", "review"):
        assert f"records.state = '{state}'" in sql
    assert "printed" not in sql and "failed" not in sql


@pytest.mark.parametrize(
    ("made", "writes_in_flight"),
    [
        (move(S.UPLOADING), False),  # queued → uploading: both in flight
        (move(S.AWAITING_DECISION), False),
        (move(S.QUEUED, only_from=[S.UPLOADING]), False),
        (move(S.PRINTED), False),  # approved → printed: both out of flight
        (move(S.FAILED), True),  # leaves flight
        (move(S.QUEUED, only_from=[S.FAILED]), True),  # comes back
        (move(S.APPROVED), True),
        (move(S.REVIEW), False),  # from in-flight states only
    ],
)
def test_a_move_writes_in_flight_only_when_a_record_may_enter_or_leave_flight(
    made: Move, writes_in_flight: bool
) -> None:
    # SQLite rewrites a record's entry in the NIK index whenever `in_flight` is SET, even to
    # the same value: the moves between in-flight states must leave it out
    for values in (made.values, made.values_where_allowed):
        assert ("in_flight" in values) is writes_in_flight
    assert made.values["state"] == made.target.value
    if writes_in_flight:
        assert made.values["in_flight"] is in_flight_of(made.target)
