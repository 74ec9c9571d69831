"""`GET /records?nik=` by index: `uq_records_nik_in_flight` becomes a full unique index on
(nik_lookup, in_flight), with `in_flight` TRUE in flight and NULL otherwise (no longer FALSE).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02

The index was partial on `in_flight`, so it held only the records in flight: a search by NIK
found the others by reading the whole table. NULLs are distinct in a unique index, on SQLite as
on PostgreSQL, so with NULL for "not in flight" the same b-tree still lets one record of a NIK
be in flight and now holds every record: one entry per record, written when it is recorded and
rewritten only when it enters or leaves flight, as before (a second index on the NIK would have
cost every recording one more page). The CHECK now says TRUE exactly in flight, NULL otherwise;
rows already there have FALSE turned into NULL (and back on downgrade).

Plain SQLAlchemy types and literal SQL: history is frozen.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: "state is in flight" (ektp_sync.domain.states.IN_FLIGHT at this revision)
IN_FLIGHT = "state IN ('awaiting_decision', 'queued', 'review', 'uploading')"
CHECK = f"CASE WHEN {IN_FLIGHT} THEN in_flight IS TRUE ELSE in_flight IS NULL END"
#: revision 0013's
CHECK_0013 = f"in_flight = ({IN_FLIGHT})"
DECIDED_AFTER_SENDING = "sent_at IS NOT NULL AND decided_at IS NOT NULL"


def upgrade() -> None:
    _drop_indexes()
    # two rebuilds on SQLite: the new CHECK refuses the FALSE of the rows as copied, the old
    # column refuses their NULL
    with op.batch_alter_table("records") as batch:
        batch.drop_constraint("ck_records_in_flight", type_="check")
        batch.alter_column("in_flight", existing_type=sa.Boolean(), nullable=True)
    op.execute("UPDATE records SET in_flight = NULL WHERE NOT in_flight")
    with op.batch_alter_table("records") as batch:
        batch.create_check_constraint("ck_records_in_flight", sa.text(CHECK))
    op.create_index("uq_records_nik_in_flight", "records", ["nik_lookup", "in_flight"], unique=True)
    _decision_times()


def downgrade() -> None:
    _drop_indexes()
    with op.batch_alter_table("records") as batch:
        batch.drop_constraint("ck_records_in_flight", type_="check")
    op.execute(f"UPDATE records SET in_flight = ({IN_FLIGHT}) WHERE in_flight IS NULL")
    with op.batch_alter_table("records") as batch:
        batch.alter_column("in_flight", existing_type=sa.Boolean(), nullable=False)
        batch.create_check_constraint("ck_records_in_flight", sa.text(CHECK_0013))
    op.create_index(
        "uq_records_nik_in_flight",
        "records",
        ["nik_lookup"],
        unique=True,
        sqlite_where=sa.text("in_flight"),
        postgresql_where=sa.text("in_flight"),
    )
    _decision_times()


def _drop_indexes() -> None:
    """Both partial indexes of `records` (0013's NIK index, the decision times) go before a
    rebuild and come back after: a batch rebuild on SQLite would not carry a WHERE clause."""
    op.drop_index("uq_records_nik_in_flight", table_name="records")
    op.drop_index("ix_records_decision_times", table_name="records")


def _decision_times() -> None:
    op.create_index(
        "ix_records_decision_times",
        "records",
        ["decided_at"],
        sqlite_where=sa.text(DECIDED_AFTER_SENDING),
        postgresql_where=sa.text(DECIDED_AFTER_SENDING),
    )
