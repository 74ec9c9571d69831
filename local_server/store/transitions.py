"""Every change of a record's state, checked against the state machine in one place.

No statement of the store writes `records.state` but through a `Move` that `move` made: it checks
the move against `ektp_sync.domain.states.TRANSITIONS` and gives the guard for SQL (the record's
state is one the target may be reached from) or the check for Python (the decisions side, which
follows a page of decisions in memory). Statements of the hot path are built once, at import,
so a move the table forbids fails the node's start, not a request.

`records.in_flight` says whether the state is in flight: TRUE in flight, NULL otherwise (never
FALSE; a CHECK ties it to `state`). The unique index on (nik_lookup, in_flight) stands on it:
NULLs are distinct there, so it allows one record in flight per NIK and any number past flight,
and finds every record of a NIK. A move writes it only when a record may enter or leave flight
by it: SQLite then leaves the NIK index alone on moves between two in-flight states (queued →
uploading → awaiting_decision, the bulk of the writes), where an index whose predicate named
`state` had each such move rewrite the record's entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, null, or_, true

from ektp_sync.domain.states import IN_FLIGHT, InvalidTransition, RecordState, sources_of
from local_server.store.tables import records


def in_flight_of(state: RecordState) -> bool | None:
    """`records.in_flight` of a record in `state`: True in flight, None (NULL) otherwise."""
    return True if state in IN_FLIGHT else None


#: the state a record is born in (not a move: there is no state before it)
BORN = RecordState.QUEUED
#: a new record's `state` and `in_flight`, for its INSERT
BORN_COLUMNS: dict[str, Any] = {"state": BORN.value, "in_flight": in_flight_of(BORN)}


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

    @property
    def enters_or_leaves_flight(self) -> bool:
        """Whether a record may enter or leave flight by this move (only then is `in_flight`,
        and with it the NIK index, written)."""
        return any((s in IN_FLIGHT) != (self.target in IN_FLIGHT) for s in self.sources)

    @property
    def values(self) -> dict[str, Any]:
        """`SET` of the move for a statement whose `WHERE` holds `allowed`: the state, and
        `in_flight` when it may change."""
        values: dict[str, Any] = {"state": self.target.value}
        if self.enters_or_leaves_flight:
            values["in_flight"] = in_flight_of(self.target)
        return values

    @property
    def values_where_allowed(self) -> dict[str, Any]:
        """`SET` of the move for bulk statements that leave some rows of their batch as they
        are: the target where the move is allowed, the row unchanged elsewhere."""
        values: dict[str, Any] = {"state": self.state}
        if self.enters_or_leaves_flight:
            flying = true() if self.target in IN_FLIGHT else null()
            values["in_flight"] = self.when_allowed(flying, records.c.in_flight)
        return values


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
