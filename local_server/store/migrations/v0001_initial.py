"""The office node's tables as the create_all start-up made them before migrations existed.

Revision ID: 0001
Revises:
Create Date: 2026-11-29

History is frozen here: plain SQLAlchemy types and literal SQL, nothing imported from the
application, so later changes to the code cannot change what this revision does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

#: "state is in flight" (ektp_sync.domain.states.IN_FLIGHT at this revision)
IN_FLIGHT = "state IN ('awaiting_decision', 'queued', 'review', 'uploading')"

#: what a database made by the old create_all start-up has, for stamping it (ektp_sync.migrations)
TABLES = {
    "records": (
        "id", "nik", "state", "submission_id", "payload", "payload_bytes", "attempts",
        "last_error", "decision_status", "decision_reason", "authorisation", "created_at",
        "updated_at", "decided_at", "printed_at",
    ),
    "outbox": (
        "record_id", "enqueued_at", "next_attempt_at", "attempts", "last_error",
        "payload_bytes", "lease_until", "lease_owner",
    ),
    "sync_state": ("key", "value"),
}  # fmt: skip
INDEXES = ("uq_records_nik_in_flight", "ix_records_state_id", "ix_outbox_due")


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)
    op.create_table(
        "records",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("nik", sa.String(16), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("submission_id", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("payload_bytes", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("decision_status", sa.String(20), nullable=True),
        sa.Column("decision_reason", sa.String(40), nullable=True),
        sa.Column("authorisation", sa.Text(), nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.Column("decided_at", utc, nullable=True),
        sa.Column("printed_at", utc, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id"),
    )
    # one in-flight record per NIK, enforced by the database (partial unique index)
    op.create_index(
        "uq_records_nik_in_flight",
        "records",
        ["nik"],
        unique=True,
        sqlite_where=sa.text(IN_FLIGHT),
        postgresql_where=sa.text(IN_FLIGHT),
    )
    op.create_index("ix_records_state_id", "records", ["state", "id"])
    op.create_table(
        "outbox",
        sa.Column("record_id", sa.String(32), nullable=False),
        sa.Column("enqueued_at", utc, nullable=False),
        sa.Column("next_attempt_at", utc, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("payload_bytes", sa.Integer(), nullable=False),
        sa.Column("lease_until", utc, nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("record_id"),
    )
    op.create_index("ix_outbox_due", "outbox", ["next_attempt_at", "enqueued_at"])
    op.create_table(
        "sync_state",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("sync_state")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("ix_records_state_id", table_name="records")
    op.drop_index("uq_records_nik_in_flight", table_name="records")
    op.drop_table("records")
