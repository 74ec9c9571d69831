"""Past submissions of the local node's records: what was sent before an operator re-sent it.

A `failed` record is re-queued (retried as is, or corrected) under a new `submission_id`; the
spent one, its NIK and the centre's refusal stay here for the record's history. On the same
MetaData as `node_tables`, so `create_tables` (and the migrations) cover it too.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text

from ektp_sync.node_tables import metadata
from ektp_sync.storage import UTCDateTime

submission_history = Table(
    "submission_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "record_id",
        String(32),
        ForeignKey("records.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("submission_id", String(64), nullable=False, unique=True),
    Column("nik", String(16), nullable=False),  # the NIK it was sent under
    Column("outcome", String(20), nullable=False),  # the record's state when re-sent: failed
    Column("reason", Text),  # why: the centre's refusal as the node recorded it
    Column("attempts", Integer, nullable=False),
    Column("submitted_at", UTCDateTime, nullable=False),  # when this submission_id was issued
    Column("superseded_at", UTCDateTime, nullable=False),
    Column("superseded_by", String(20), nullable=False),  # "retry" or "correction"
    Column("changed_fields", Text, nullable=False, default=""),  # comma-separated, correction
    Index("ix_submission_history_record", "record_id", "id"),
)
