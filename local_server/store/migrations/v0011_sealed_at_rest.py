"""Personal data sealed at rest: a record's NIK, payload and authorisation, a spent NIK.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

`records.nik`, `payload` and `authorisation` (clear text) become `nik_sealed`, `payload_sealed`
and `authorisation_sealed` (AES-256-GCM under the data key, see local_server.store.sealed) and
`nik_lookup` (a keyed hash of the NIK), on which the "one in-flight record per NIK" index now
stands; `submission_history.nik` becomes `nik_sealed`. Rows already there are sealed in this
revision's transaction, which therefore needs the data key (`revision_data_key`); an empty
database needs none. The seal's context format is the node's (NodeSealer), so rows sealed here
open like rows sealed by the running node.

Downgrade only on an empty database: it would have to write the data back in clear.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from ektp_sync.migrations import MigrationError, revision_data_key
from ektp_sync.migrations.rows import count_rows, rewrite_rows
from local_server.store.sealed import NodeSealer

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

IN_FLIGHT = "state IN ('awaiting_decision', 'queued', 'review', 'uploading')"
DECIDED_AFTER_SENDING = "sent_at IS NOT NULL AND decided_at IS NOT NULL"

_records = sa.table(
    "records",
    sa.column("id", sa.String()),
    sa.column("nik", sa.String()),
    sa.column("payload", sa.Text()),
    sa.column("authorisation", sa.Text()),
    sa.column("nik_lookup", sa.String()),
    sa.column("nik_sealed", sa.LargeBinary()),
    sa.column("payload_sealed", sa.LargeBinary()),
    sa.column("authorisation_sealed", sa.LargeBinary()),
)
_history = sa.table(
    "submission_history",
    sa.column("id", sa.Integer()),
    sa.column("submission_id", sa.String()),
    sa.column("nik", sa.String()),
    sa.column("nik_sealed", sa.LargeBinary()),
)


def upgrade() -> None:
    key = revision_data_key(count_rows("records") + count_rows("submission_history"))
    # the partial indexes go before and come back after: a batch rebuild on SQLite would not
    # carry their WHERE clauses over
    op.drop_index("uq_records_nik_in_flight", table_name="records")
    op.drop_index("ix_records_decision_times", table_name="records")
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("nik_lookup", sa.String(64), nullable=True))
        batch.add_column(sa.Column("nik_sealed", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("payload_sealed", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("authorisation_sealed", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("submission_history") as batch:
        batch.add_column(sa.Column("nik_sealed", sa.LargeBinary(), nullable=True))
    if key is not None:
        sealer = NodeSealer(key)

        def seal_record(row: tuple[Any, ...]) -> dict[str, Any]:
            record_id, nik, payload, authorisation = row
            return {
                **sealer.record_columns(record_id, nik, payload),
                "authorisation_sealed": sealer.seal_authorisation(record_id, authorisation)
                if authorisation
                else None,
            }

        def seal_spent(row: tuple[Any, ...]) -> dict[str, Any]:
            _, submission_id, nik = row
            return {"nik_sealed": sealer.seal_spent_nik(submission_id, nik)}

        rewrite_rows(_records, "id", ["nik", "payload", "authorisation"], seal_record)
        rewrite_rows(_history, "id", ["submission_id", "nik"], seal_spent)
    with op.batch_alter_table("records") as batch:
        batch.drop_column("nik")
        batch.drop_column("payload")
        batch.drop_column("authorisation")
        batch.alter_column("nik_lookup", existing_type=sa.String(64), nullable=False)
        batch.alter_column("nik_sealed", existing_type=sa.LargeBinary(), nullable=False)
        batch.alter_column("payload_sealed", existing_type=sa.LargeBinary(), nullable=False)
    with op.batch_alter_table("submission_history") as batch:
        batch.drop_column("nik")
        batch.alter_column("nik_sealed", existing_type=sa.LargeBinary(), nullable=False)
    _partial_indexes("nik_lookup")


def downgrade() -> None:
    if count_rows("records") + count_rows("submission_history"):
        raise MigrationError(
            "sealed records cannot be downgraded to clear text: restore a backup made before "
            "the upgrade"
        )
    op.drop_index("uq_records_nik_in_flight", table_name="records")
    op.drop_index("ix_records_decision_times", table_name="records")
    with op.batch_alter_table("submission_history") as batch:
        batch.drop_column("nik_sealed")
        batch.add_column(sa.Column("nik", sa.String(16), nullable=False))
    with op.batch_alter_table("records") as batch:
        for name in ("nik_lookup", "nik_sealed", "payload_sealed", "authorisation_sealed"):
            batch.drop_column(name)
        batch.add_column(sa.Column("nik", sa.String(16), nullable=False))
        batch.add_column(sa.Column("payload", sa.Text(), nullable=False))
        batch.add_column(sa.Column("authorisation", sa.Text(), nullable=True))
    _partial_indexes("nik")


def _partial_indexes(nik_column: str) -> None:
    op.create_index(
        "uq_records_nik_in_flight",
        "records",
        [nik_column],
        unique=True,
        sqlite_where=sa.text(IN_FLIGHT),
        postgresql_where=sa.text(IN_FLIGHT),
    )
    op.create_index(
        "ix_records_decision_times",
        "records",
        ["decided_at"],
        sqlite_where=sa.text(DECIDED_AFTER_SENDING),
        postgresql_where=sa.text(DECIDED_AFTER_SENDING),
    )
