"""The node's record and submission ids: unique, in recording order, and valid at the centre."""

from __future__ import annotations

import time

from pydantic import TypeAdapter

from ektp_sync.wire import SubmissionId
from local_server.service import new_record_id, new_submission_id


def _next_millisecond() -> None:
    now = time.time_ns() // 1_000_000
    while time.time_ns() // 1_000_000 == now:
        pass


def test_submission_ids_are_the_offices_unique_and_follow_the_clock() -> None:
    made = []
    for _ in range(3):
        made += [new_submission_id("6172") for _ in range(200)]
        _next_millisecond()  # the ids made from now on must sort after the ones before
    assert len(set(made)) == len(made)
    assert all(s.startswith("6172-") and len(s) == 37 for s in made)
    # ordered by their time prefix (ids of one millisecond differ in their random part only)
    assert [s[:17] for s in made] == sorted(s[:17] for s in made)
    assert made[0][:17] < made[-1][:17]
    valid = TypeAdapter(SubmissionId)
    assert all(valid.validate_python(s) == s for s in made)  # what the centre's intake accepts


def test_record_ids_follow_the_clock() -> None:
    first = new_record_id()
    _next_millisecond()
    assert new_record_id() > first
