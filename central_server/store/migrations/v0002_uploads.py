"""Heavy packets: the tus uploads of manifest entries and their sealed chunks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

Plain SQLAlchemy types, nothing imported from the application (see 0001).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: BIGSERIAL ids on PostgreSQL; on SQLite INTEGER PRIMARY KEY, its only autoincrement form
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("upload_id", sa.String(32), nullable=False),
        sa.Column("submission_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created", sa.Boolean(), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resends", sa.Integer(), nullable=False),
        sa.Column("retired_id", sa.String(32), nullable=True),
        sa.Column("retired_rule", sa.String(32), nullable=True),
        # in create_all's order, so SQLite stores the very same CREATE TABLE text either way
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id", "name", name="uq_uploads_submission_name"),
        sa.UniqueConstraint("upload_id"),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["enrollments.submission_id"], ondelete="CASCADE"
        ),
        sa.UniqueConstraint("retired_id"),
    )
    op.create_index("ix_uploads_expires_at", "uploads", ["expires_at"])
    op.create_table(
        "upload_chunks",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("upload", ID, nullable=False),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("upload", "start", name="uq_upload_chunks_upload_start"),
        sa.ForeignKeyConstraint(["upload"], ["uploads.id"], ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("upload_chunks")
    op.drop_index("ix_uploads_expires_at", table_name="uploads")
    op.drop_table("uploads")
