"""The store's one way to change a record's state: moves checked against the state table."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from ektp_sync.domain.states import TRANSITIONS, InvalidTransition, RecordState
from local_server.store.transitions import move

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
