"""Heavy packets: attachments kept apart from the record, sealed, with their upload progress.

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-02

`packet_files` holds each attachment of a record (sealed bytes, size, SHA-256) and how far its
resumable (tus) upload to the centre has gone: the acknowledged offset and the upload's URL.
Plain SQLAlchemy types: history is frozen.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)
    op.create_table(
        "packet_files",
        sa.Column(
            "record_id",
            sa.String(32),
            sa.ForeignKey("records.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("acked", sa.Integer(), nullable=False),
        sa.Column("upload_url", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
    )
    op.create_index("ix_packet_files_status", "packet_files", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_packet_files_status", table_name="packet_files")
    op.drop_table("packet_files")
