"""Every table of the office node, on one MetaData, and their migration history (`SCHEMA`).

records, outbox (the upload queue), packet_files (attachments sent apart, heavy packets),
sync_state (decisions cursor, pinned key), submission_history, link_outages and audit_trail. A
change here needs a revision in `local_server/store/migrations/`; tests/migrations fails until
the migrated schema equals these tables again.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from ektp_sync.domain.states import IN_FLIGHT
from ektp_sync.migrations import Schema, Upgrade, upgrade
from ektp_sync.sealing import DataKey
from ektp_sync.storage import UTCDateTime

metadata = MetaData()

#: SQL predicate "state is in flight": what `in_flight` must say (its CHECK)
_IN_FLIGHT_SQL = "state IN ({})".format(", ".join(f"'{s.value}'" for s in sorted(IN_FLIGHT)))
#: `in_flight` is TRUE in flight, NULL otherwise (never FALSE); never NULL itself, as a CHECK
#: that evaluates to NULL passes
_IN_FLIGHT_CHECK = f"CASE WHEN {_IN_FLIGHT_SQL} THEN in_flight IS TRUE ELSE in_flight IS NULL END"
#: records the centre accepted and then decided: their waits make the typical decision time
_DECIDED_AFTER_SENDING = "sent_at IS NOT NULL AND decided_at IS NOT NULL"

records = Table(
    "records",
    metadata,
    # sortable string ids (time prefix + randomness) so cursor paging follows recording order
    Column("id", String(32), primary_key=True),
    Column("state", String(20), nullable=False),
    # fixed when recorded (and renewed only by an operator's retry): the centre's idempotency key
    Column("submission_id", String(64), nullable=False, unique=True),
    Column("payload_bytes", Integer, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    # why the last attempt failed, sealed (revision 0012): the centre's refusal quotes what it
    # refused, a NIK or its birth-date digits among it
    Column("last_error", LargeBinary),
    Column("decision_status", String(20)),
    Column("decision_reason", String(40)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("decided_at", UTCDateTime),
    Column("printed_at", UTCDateTime),
    # when the centre accepted the record: decided_at - sent_at is the wait for its decision
    Column("sent_at", UTCDateTime),
    # personal data sealed (local_server.store.sealed), added by revision 0011 (hence last):
    # the NIK as a keyed hash (equality search, the in-flight index) and sealed, the
    # ResidentRecord as JSON (attachments included; payload_bytes is its clear size), and the
    # signed authorisation (it names the NIK; verified at print time)
    Column("nik_lookup", String(64), nullable=False),
    Column("nik_sealed", LargeBinary, nullable=False),
    Column("payload_sealed", LargeBinary, nullable=False),
    Column("authorisation_sealed", LargeBinary),
    # whether `state` is in flight: TRUE, or NULL when not (revisions 0013, 0014); written by
    # the moves of `transitions` only when it changes, so the NIK index below stays untouched
    # while a record goes queued → uploading → awaiting_decision; the CHECK makes a write that
    # forgets it fail, not corrupt the uniqueness (and one of FALSE, with which a NIK's second
    # record past flight would collide in the index)
    Column("in_flight", Boolean),
    CheckConstraint(_IN_FLIGHT_CHECK, name="ck_records_in_flight"),
    # race-free "one in-flight record per NIK": two concurrent POSTs cannot both pass. NULLs
    # are distinct in a unique index (SQLite, PostgreSQL), so records past flight each have
    # their own entry: the same b-tree finds every record of a NIK (`GET /records?nik=`),
    # one entry per record, where a second index on the NIK would cost each recording a page
    Index("uq_records_nik_in_flight", "nik_lookup", "in_flight", unique=True),
    Index("ix_records_state_id", "state", "id"),
    Index(
        "ix_records_decision_times",
        "decided_at",
        sqlite_where=text(_DECIDED_AFTER_SENDING),
        postgresql_where=text(_DECIDED_AFTER_SENDING),
    ),
)

#: One row per record that still has to reach the centre; deleted once the centre answered.
outbox = Table(
    "outbox",
    metadata,
    Column(
        "record_id",
        String(32),
        ForeignKey("records.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("enqueued_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", LargeBinary),  # sealed, like the record's
    Column("payload_bytes", Integer, nullable=False),
    Column("lease_until", UTCDateTime),
    Column("lease_owner", String(64)),
    # the claim's order (oldest first): walking this index stops after one batch of due rows,
    # where an index on (next_attempt_at, enqueued_at) made SQLite sort every due row on each
    # claim (bench/backlog.py); that one, unused since, went in revision 0013
    Index("ix_outbox_order", "enqueued_at", "record_id"),
    # small rows: on SQLite the table is the b-tree of its primary key, so a new entry writes
    # one b-tree less (revision 0013)
    sqlite_with_rowid=False,
)

#: Heavy packets: each attachment of a record, sealed (never in clear on disk), and how far its
#: resumable upload to the centre has gone. Written in the transaction that stores the record;
#: `acked` only ever holds an offset the centre acknowledged, so a SIGKILL loses no progress
#: and doubles nothing (the centre's offset is asked again after a restart).
packet_files = Table(
    "packet_files",
    metadata,
    Column(
        "record_id",
        String(32),
        ForeignKey("records.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("name", String(64), primary_key=True),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", LargeBinary, nullable=False),  # sealed with the data key
    Column("status", String(12), nullable=False),  # waiting, done, cancelled
    Column("acked", Integer, nullable=False, default=0),
    Column("upload_url", Text),  # the centre's tus upload, once created
    Column("attempts", Integer, nullable=False, default=0),
    # why the next attempt is made (e.g. the centre's resend), sealed
    Column("last_error", LargeBinary),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_packet_files_status", "status", "next_attempt_at"),
)

#: Small key-value store of the sync engine: decisions cursor, pinned public key of the centre.
sync_state = Table(
    "sync_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

#: Past submissions of a record: what was sent before an operator re-sent it. A `failed` record
#: is re-queued (retried as is, or corrected) under a new `submission_id`; the spent one, its NIK
#: and the centre's refusal stay here for the record's history.
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
    Column("outcome", String(20), nullable=False),  # the record's state when re-sent: failed
    Column("reason", LargeBinary),  # why: the centre's refusal as the node recorded it, sealed
    Column("attempts", Integer, nullable=False),
    Column("submitted_at", UTCDateTime, nullable=False),  # when this submission_id was issued
    Column("superseded_at", UTCDateTime, nullable=False),
    Column("superseded_by", String(20), nullable=False),  # "retry" or "correction"
    Column("changed_fields", Text, nullable=False, default=""),  # comma-separated, correction
    Column("nik_sealed", LargeBinary, nullable=False),  # the NIK it was sent under, sealed
    Index("ix_submission_history_record", "record_id", "id"),
)

#: Outages of the link to the centre, for the operator's history (today's and the last week's
#: survive a restart); `ended_at` is null while the outage lasts.
link_outages = Table(
    "link_outages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("cause", Text),  # the error that opened it, in the operator's words (no personal data)
    Index("ix_link_outages_started", "started_at"),
)

#: What operators did (print, retry, correct): written with the change, never updated or deleted.
audit_trail = Table(
    "audit_trail",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("operator", String(64), nullable=False),
    Column("role", String(20), nullable=False),
    Column("action", String(40), nullable=False),
    Column("record_id", String(32)),  # no foreign key: the trail outlives what it speaks of
    Index("ix_audit_trail_record", "record_id", "id"),
)

SCHEMA = Schema(
    name="local",
    metadata=metadata,
    versions="local_server.store:migrations",
    version_table="alembic_version_local",
    # PostgreSQL advisory lock key for schema upgrades ("ektr"; the centre's are "ektp", "ektq")
    lock_key=0x656B7472,
    baseline="0001",
)


async def create_tables(engine: AsyncEngine, key: DataKey | None = None) -> Upgrade:
    """Migrate the node's database to head (creating the tables when empty); `key` seals the
    rows of a database from before sealing (see the revision 0011)."""
    return await upgrade(engine, SCHEMA, data_key=key)
