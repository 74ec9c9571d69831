"""Index of the outbox in claim order (oldest first), so a claim stops after one batch.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

Without it SQLite walked ix_outbox_due and sorted every due row on each claim (bench/backlog.py).
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_order", "outbox", ["enqueued_at", "record_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_order", table_name="outbox")
