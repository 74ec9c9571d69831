"""Fewer pages written per recording and per claim: `records.in_flight`, on which the "one
in-flight record per NIK" index now stands; `outbox` without a rowid and without `ix_outbox_due`.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

The partial unique index `uq_records_nik_in_flight` was partial on `state IN (…)`, so SQLite
rewrote a record's entry in it on every change of state, even queued → uploading (both in
flight): at a big backlog a claim of 500 records wrote a few hundred of its pages. Now it is
partial on `in_flight`, a column the node writes only when a record enters or leaves flight; a
CHECK ties it to `state`, so a write that forgets it fails instead of letting two records of
one NIK be in flight. Rows already there get it from their state.

On SQLite `outbox` becomes a WITHOUT ROWID table keyed by `record_id` (its rows are small): one
b-tree instead of a table plus the index of its primary key. `ix_outbox_due` goes on both
databases: no statement was planned on it since `ix_outbox_order` (revision 0003) serves the
claim. Each commit of a new recording wrote about 10.9 pages of WAL; with both, 8.8.

Plain SQLAlchemy types and literal SQL: history is frozen.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

#: "state is in flight" (ektp_sync.domain.states.IN_FLIGHT at this revision)
IN_FLIGHT = "state IN ('awaiting_decision', 'queued', 'review', 'uploading')"
CHECK = f"in_flight = ({IN_FLIGHT})"


def upgrade() -> None:
    # the index goes before and comes back after: a batch rebuild on SQLite would not carry its
    # WHERE clause over
    op.drop_index("uq_records_nik_in_flight", table_name="records")
    op.drop_index("ix_records_decision_times", table_name="records")
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("in_flight", sa.Boolean(), nullable=True))
    # every row's, from its state: a comparison is a boolean on PostgreSQL, 0 or 1 on SQLite
    op.execute(f"UPDATE records SET in_flight = ({IN_FLIGHT})")
    with op.batch_alter_table("records") as batch:
        batch.alter_column("in_flight", existing_type=sa.Boolean(), nullable=False)
        batch.create_check_constraint("ck_records_in_flight", sa.text(CHECK))
    _indexes("in_flight")
    op.drop_index("ix_outbox_due", table_name="outbox")
    _rebuild_outbox(with_rowid=False)


def downgrade() -> None:
    _rebuild_outbox(with_rowid=True)
    op.create_index("ix_outbox_due", "outbox", ["next_attempt_at", "enqueued_at"])
    op.drop_index("uq_records_nik_in_flight", table_name="records")
    op.drop_index("ix_records_decision_times", table_name="records")
    with op.batch_alter_table("records") as batch:
        batch.drop_constraint("ck_records_in_flight", type_="check")
        batch.drop_column("in_flight")
    _indexes(IN_FLIGHT)


def _rebuild_outbox(with_rowid: bool) -> None:
    """SQLite: the outbox copied into a table with(out) a rowid (its rows, foreign key and
    index `ix_outbox_order` carried over). PostgreSQL has no rowid: nothing to do."""
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "outbox", recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}
    ):
        pass


def _indexes(in_flight: str) -> None:
    op.create_index(
        "uq_records_nik_in_flight",
        "records",
        ["nik_lookup"],
        unique=True,
        sqlite_where=sa.text(in_flight),
        postgresql_where=sa.text(in_flight),
    )
    op.create_index(
        "ix_records_decision_times",
        "records",
        ["decided_at"],
        sqlite_where=sa.text("sent_at IS NOT NULL AND decided_at IS NOT NULL"),
        postgresql_where=sa.text("sent_at IS NOT NULL AND decided_at IS NOT NULL"),
    )
