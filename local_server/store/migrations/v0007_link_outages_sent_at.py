"""The link's outages (persisted for the operator's history) and when a record was sent.

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-06

`link_outages` keeps each outage of the link to the centre (start, end, cause) so today's and
the last week's survive a restart. `records.sent_at` is when the centre accepted the record: the
time from it to the decision is what the office waits for the centre (printable_eta); a partial
index finds the latest such times without a scan. Plain SQLAlchemy types: history is frozen.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0003"
branch_labels = None
depends_on = None


#: the predicate of the partial index on decision times (SQLite and PostgreSQL)
_DECIDED_AFTER_SENDING = "sent_at IS NOT NULL AND decided_at IS NOT NULL"


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)
    op.add_column("records", sa.Column("sent_at", utc, nullable=True))
    op.create_index(
        "ix_records_decision_times",
        "records",
        ["decided_at"],
        sqlite_where=sa.text(_DECIDED_AFTER_SENDING),
        postgresql_where=sa.text(_DECIDED_AFTER_SENDING),
    )
    op.create_table(
        "link_outages",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("started_at", utc, nullable=False),
        sa.Column("ended_at", utc, nullable=True),
        sa.Column("cause", sa.Text(), nullable=True),
    )
    op.create_index("ix_link_outages_started", "link_outages", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_link_outages_started", table_name="link_outages")
    op.drop_table("link_outages")
    op.drop_index("ix_records_decision_times", table_name="records")
    op.drop_column("records", "sent_at")
