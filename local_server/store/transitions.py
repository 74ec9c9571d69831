"""Every change of a record's state, checked against the state machine in one place.

No statement of the store writes `records.state` but through a `Move` that `move` made: it checks
the move against `ektp_sync.domain.states.TRANSITIONS` and gives the guard for SQL (the record's
state is one the target may be reached from) or the check for Python (the decisions side, which
follows a page of decisions in memory). Statements of the hot path are built once, at import,
so a move the table forbids fails the node's start, not a request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, or_

from ektp_sync.domain.states import InvalidTransition, RecordState, sources_of
from local_server.store.tables import records

#: the state a record is born in (not a move: there is no state before it)
BORN = RecordState.QUEUED


@dataclass(frozen=True)
class Move:
    """A change to `target` from any of `sources` (all of which the table allows)."""

    target: RecordState
    sources: frozenset[RecordState]

    def permits(self, current: RecordState) -> bool:
        return current in self.sources

    @property
    def allowed(self) -> Any:
        """SQL: the record's state is one of `sources` (for `WHERE`)."""
        # `=` per state, not IN: an IN list is an expanding parameter, rendered again on every
        # call of a statement that is otherwise compiled once
        return or_(*(records.c.state == s.value for s in sorted(self.sources)))

    @property
    def state(self) -> Any:
        """SQL for `SET state =`: `target` where the move is allowed, the state unchanged
        elsewhere (bulk statements that must leave some rows of their batch as they are)."""
        return case((self.allowed, self.target.value), else_=records.c.state)

    def when_allowed(self, value: Any, otherwise: Any) -> Any:
        """SQL: `value` where the move is allowed, `otherwise` elsewhere (for other columns)."""
        return case((self.allowed, value), else_=otherwise)


def move(target: RecordState, only_from: Iterable[RecordState] | None = None) -> Move:
    """The move to `target` from every state the table allows, or only from `only_from`
    (each of which the table must allow: InvalidTransition otherwise)."""
    allowed = sources_of(target)
    sources = allowed if only_from is None else frozenset(only_from)
    if forbidden := sources - allowed:
        raise InvalidTransition(min(forbidden), target)
    if not sources:
        raise ValueError(f"no state may become {target}")
    return Move(target, sources)
