"""The SELECTs that list the node's records: with their queue entry, and a page of them (by
state, by NIK, after a cursor) for `GET /records`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.sql.expression import ColumnElement

from ektp_sync.domain.states import RecordState
from local_server.store.tables import outbox, records


def page_query(
    state: RecordState | None, limit: int, after: str | None, nik_lookup: str | None
) -> Select[Any]:
    """Up to `limit` records in id order, after the id `after`, in `state`, of the NIK whose
    keyed hash is `nik_lookup`: found through `uq_records_nik_in_flight`, which holds every
    record (not only those in flight) under its NIK."""
    query = view_query().order_by(records.c.id).limit(limit)
    state_of: ColumnElement[str] = records.c.state
    if nik_lookup is not None:
        query = query.where(records.c.nik_lookup == nik_lookup)
        # a NIK has a few records: with the state compared as is, SQLite (no statistics) would
        # walk `ix_records_state_id` instead, every record in the state, to spare a sort
        state_of = state_of.concat("")
    if state is not None:
        query = query.where(state_of == state.value)
    if after is not None:
        query = query.where(records.c.id > after)
    return query


def view_query() -> Select[Any]:
    """Records with their queue entry's next attempt (absent once the centre answered)."""
    return select(*records.c, outbox.c.next_attempt_at).select_from(
        records.outerjoin(outbox, outbox.c.record_id == records.c.id)
    )
