"""Why-it-failed texts sealed at rest: `records.last_error`, `outbox.last_error`,
`packet_files.last_error` and `submission_history.reason`.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

The centre's refusal of an invalid record quotes what it refused (a NIK, its birth-date digits:
the NIK rules' messages), and the node kept it in clear in `records.last_error`, then in
`submission_history.reason` once an operator re-sent the record. The four columns become
LargeBinary, each value sealed under the data key for its table, column and row (as
local_server.store.sealed seals them: `NodeSealer.seal_error`). Values already there are
sealed in this revision's transaction, which therefore needs the data key when there are any
(`revision_data_key`); a database without any needs none.

The type changes in place (the columns keep their position): SQLite's batch rebuild copies
the text as a BLOB of its UTF-8 bytes, PostgreSQL converts it with `convert_to`; then each
value is read back, decoded and sealed.

Downgrade only when none of these columns holds a value: it would have to write them back in
clear (as revision 0011 refuses to).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import sqlalchemy as sa
from alembic import op

from ektp_sync.migrations import MigrationError, revision_data_key
from ektp_sync.migrations.rows import count_rows, rewrite_rows
from local_server.store.sealed import ErrorColumn, NodeSealer, file_row

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

IN_FLIGHT = "state IN ('awaiting_decision', 'queued', 'review', 'uploading')"
DECIDED_AFTER_SENDING = "sent_at IS NOT NULL AND decided_at IS NOT NULL"

#: table → (key columns, column sealed, the column(s) its seal is bound to)
_SEALED: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    "records": (("id",), "last_error", ("id",)),
    "outbox": (("record_id",), "last_error", ("record_id",)),
    "packet_files": (("record_id", "name"), "last_error", ("record_id", "name")),
    "submission_history": (("id",), "reason", ("submission_id",)),
}


def _values() -> int:
    """How many values the four columns hold."""
    return sum(count_rows(t, f"{c} IS NOT NULL") for t, (_, c, _) in _SEALED.items())


def upgrade() -> None:
    key = revision_data_key(_values())
    with _records_rebuilt():
        for table, (_, column, _) in _SEALED.items():
            with op.batch_alter_table(table) as batch:
                batch.alter_column(
                    column,
                    existing_type=sa.Text(),
                    type_=sa.LargeBinary(),
                    postgresql_using=f"convert_to({column}, 'UTF8')",
                )
    if key is not None:
        _seal_all(NodeSealer(key))


def _seal_all(sealer: NodeSealer) -> None:
    for table, (keys, column, bound) in _SEALED.items():
        read = [*(c for c in bound if c not in keys), column]
        # the ids untyped: each goes back as the database gave it (an integer, a string)
        clear = sa.table(
            table, *(sa.column(c) for c in [*keys, *read[:-1]]), sa.column(column, sa.LargeBinary())
        )
        seal = _sealing(sealer, table, column, bound, [*keys, *read])
        rewrite_rows(clear, keys, read, seal, clear.c[column].is_not(None))


def _sealing(
    sealer: NodeSealer, table: str, column: str, bound: tuple[str, ...], names: list[str]
) -> Callable[[tuple[Any, ...]], dict[str, Any]]:
    """What `rewrite_rows` calls on each row (its `names`): the clear text (UTF-8 bytes since
    the type change) sealed for its row, as `NodeSealer.seal_error` seals it."""
    sealed_as = cast(ErrorColumn, f"{table}.{column}")

    def seal(row: tuple[Any, ...]) -> dict[str, Any]:
        found = dict(zip(names, row, strict=True))
        row_id = file_row(*(found[c] for c in bound)) if len(bound) > 1 else found[bound[0]]
        text = bytes(found[column]).decode("utf-8")
        return {column: sealer.seal_error(sealed_as, row_id, text)}

    return seal


def downgrade() -> None:
    if _values():
        raise MigrationError(
            "sealed error texts cannot be downgraded to clear text: restore a backup made "
            "before the upgrade"
        )
    with _records_rebuilt():
        for table, (_, column, _) in _SEALED.items():
            with op.batch_alter_table(table) as batch:
                batch.alter_column(
                    column,
                    existing_type=sa.LargeBinary(),
                    type_=sa.Text(),
                    postgresql_using=f"convert_from({column}, 'UTF8')",
                )


@contextmanager
def _records_rebuilt() -> Iterator[None]:
    """The partial indexes of `records` go before and come back after: a batch rebuild on
    SQLite would not carry their WHERE clauses over."""
    op.drop_index("uq_records_nik_in_flight", table_name="records")
    op.drop_index("ix_records_decision_times", table_name="records")
    yield
    op.create_index(
        "uq_records_nik_in_flight",
        "records",
        ["nik_lookup"],
        unique=True,
        sqlite_where=sa.text(IN_FLIGHT),
        postgresql_where=sa.text(IN_FLIGHT),
    )
    op.create_index(
        "ix_records_decision_times",
        "records",
        ["decided_at"],
        sqlite_where=sa.text(DECIDED_AFTER_SENDING),
        postgresql_where=sa.text(DECIDED_AFTER_SENDING),
    )
