"""The centre's tables as the create_all start-up made them before migrations existed.

Revision ID: 0001
Revises:
Create Date: 2026-11-29

History is frozen here: plain SQLAlchemy types, nothing imported from the application, so later
changes to the code cannot change what this revision does. Columns and constraints are in
create_all's order, so SQLite stores the very same CREATE TABLE text either way.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

#: BIGSERIAL ids on PostgreSQL; on SQLite INTEGER PRIMARY KEY, its only autoincrement form
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: what a database made by the old create_all start-up has, for stamping it (ektp_sync.migrations)
TABLES = {
    "enrollments": (
        "id", "submission_id", "office_code", "nik", "status", "reason", "errors", "record",
        "template", "approval_no", "authorisation", "recorded_at", "received_at", "decided_at",
    ),
    "attachments": ("id", "submission_id", "name", "content"),
    "identities": ("id", "nik", "template", "submission_id", "office_code", "enrolled_at"),
    "decision_log": (
        "seq", "office_code", "submission_id", "nik", "status", "reason", "authorisation",
        "decided_at",
    ),
}  # fmt: skip
INDEXES = ("ix_enrollments_status_id", "ix_enrollments_office_status", "ix_decision_log_office_seq")


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)
    op.create_table(
        "enrollments",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("submission_id", sa.String(64), nullable=False),
        sa.Column("office_code", sa.String(8), nullable=False),
        sa.Column("nik", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("errors", sa.JSON(), nullable=True),
        sa.Column("record", sa.JSON(), nullable=True),
        sa.Column("template", sa.LargeBinary(), nullable=True),
        sa.Column("approval_no", sa.String(64), nullable=True),
        sa.Column("authorisation", sa.JSON(), nullable=True),
        sa.Column("recorded_at", utc, nullable=True),
        sa.Column("received_at", utc, nullable=False),
        sa.Column("decided_at", utc, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id"),
        sa.UniqueConstraint("approval_no"),
    )
    op.create_index("ix_enrollments_status_id", "enrollments", ["status", "id"])
    op.create_index("ix_enrollments_office_status", "enrollments", ["office_code", "status"])
    op.create_table(
        "attachments",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("submission_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id", "name", name="uq_attachments_submission_name"),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["enrollments.submission_id"], ondelete="CASCADE"
        ),
    )
    op.create_table(
        "identities",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("nik", sa.String(16), nullable=False),
        sa.Column("template", sa.LargeBinary(), nullable=False),
        sa.Column("submission_id", sa.String(64), nullable=False),
        sa.Column("office_code", sa.String(8), nullable=False),
        sa.Column("enrolled_at", utc, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("nik"),
    )
    op.create_table(
        "decision_log",
        sa.Column("seq", ID, autoincrement=True, nullable=False),
        sa.Column("office_code", sa.String(8), nullable=False),
        sa.Column("submission_id", sa.String(64), nullable=False),
        sa.Column("nik", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("authorisation", sa.JSON(), nullable=True),
        sa.Column("decided_at", utc, nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_decision_log_office_seq", "decision_log", ["office_code", "seq"])


def downgrade() -> None:
    op.drop_index("ix_decision_log_office_seq", table_name="decision_log")
    op.drop_table("decision_log")
    op.drop_table("identities")
    op.drop_table("attachments")
    op.drop_index("ix_enrollments_office_status", table_name="enrollments")
    op.drop_index("ix_enrollments_status_id", table_name="enrollments")
    op.drop_table("enrollments")
