"""The operators' audit trail: who printed, retried or corrected which record, when.

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-02

Plain SQLAlchemy types: history is frozen.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_trail",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operator", sa.String(64), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("record_id", sa.String(32), nullable=True),
    )
    op.create_index("ix_audit_trail_record", "audit_trail", ["record_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_trail_record", table_name="audit_trail")
    op.drop_table("audit_trail")
