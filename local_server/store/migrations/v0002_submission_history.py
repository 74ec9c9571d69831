"""Past submissions of a record, kept when an operator re-sends it (retry or PUT correction).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

The tables in code are `local_server.store.tables`. History is frozen here: plain SQLAlchemy
types, nothing imported from the application.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)
    op.create_table(
        "submission_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(32), nullable=False),
        sa.Column("submission_id", sa.String(64), nullable=False),
        sa.Column("nik", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("submitted_at", utc, nullable=False),
        sa.Column("superseded_at", utc, nullable=False),
        sa.Column("superseded_by", sa.String(20), nullable=False),
        sa.Column("changed_fields", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id"),
    )
    op.create_index("ix_submission_history_record", "submission_history", ["record_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_submission_history_record", table_name="submission_history")
    op.drop_table("submission_history")
