"""Every table of the centre, in one place, and their migration history (`SCHEMA`).

A change here needs a revision in `central_server/store/migrations/`; tests/migrations fails until
the migrated schema equals these tables again.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

from ektp_sync.migrations import Schema
from ektp_sync.storage import UTCDateTime

metadata = MetaData()

#: PostgreSQL advisory lock key serialising schema upgrades of several centre processes
#: ("ektq": next to the de-duplication lock, "ektp", in central_server.store.decisions)
SCHEMA_LOCK_KEY = 0x656B7471

# BigInteger ids on PostgreSQL, but INTEGER PRIMARY KEY on SQLite (its only autoincrement form)
Id = BigInteger().with_variant(Integer(), "sqlite")

#: One row per submission_id ever answered, invalid ones included: that is what makes a
#: re-sent item get its first answer. `id` gives the arrival order the dedup worker follows.
enrollments = Table(
    "enrollments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("submission_id", String(64), nullable=False, unique=True),
    Column("office_code", String(8), nullable=False),
    # a SubmissionStatus: pending | held | approved | rejected | review | invalid
    Column("status", String(16), nullable=False),
    Column("reason", String(32), nullable=True),
    Column("approval_no", String(64), nullable=True, unique=True),
    Column("recorded_at", UTCDateTime, nullable=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("decided_at", UTCDateTime, nullable=True),
    # personal data, sealed (central_server.store.sealed); added by revision 0005, hence last
    Column("nik_sealed", LargeBinary, nullable=True),  # as sent: maybe malformed, maybe absent
    Column("errors_sealed", LargeBinary, nullable=True),  # JSON list; they can quote the item
    Column("record_sealed", LargeBinary, nullable=True),  # JSON, the record without attachments
    Column("template_sealed", LargeBinary, nullable=True),  # unit-normalised float32, 512 bytes
    Column("authorisation_sealed", LargeBinary, nullable=True),  # JSON; it names the NIK
    Index("ix_enrollments_status_id", "status", "id"),
    Index("ix_enrollments_office_status", "office_code", "status"),
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "submission_id",
        String(64),
        ForeignKey("enrollments.submission_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(64), nullable=False),
    Column("content", LargeBinary, nullable=False),  # sealed (central_server.store.sealed)
    UniqueConstraint("submission_id", "name", name="uq_attachments_submission_name"),
)

#: One row per enrolled person; `nik_lookup` (a keyed hash of the NIK) is unique, so the database
#: itself refuses a second identity under one NIK even if the gallery logic were wrong.
identities = Table(
    "identities",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("submission_id", String(64), nullable=False),
    Column("office_code", String(8), nullable=False),
    Column("enrolled_at", UTCDateTime, nullable=False),
    # sealed (added by revision 0005, hence last); the keyed hash is what stays unique
    Column("nik_lookup", String(64), nullable=False),
    Column("nik_sealed", LargeBinary, nullable=False),
    Column("template_sealed", LargeBinary, nullable=False),
    UniqueConstraint("nik_lookup", name="identities_nik_lookup_key"),
)

#: Append-only: the decisions feed offices page through; `seq` is the cursor.
decision_log = Table(
    "decision_log",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),
    Column("office_code", String(8), nullable=False),
    Column("submission_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("decided_at", UTCDateTime, nullable=False),
    # sealed (added by revision 0005, hence last)
    Column("nik_sealed", LargeBinary, nullable=False),
    Column("authorisation_sealed", LargeBinary, nullable=True),
    Index("ix_decision_log_office_seq", "office_code", "seq"),
)

#: One row per manifest entry of a submission, made by intake with the enrollment: the tus
#: upload of that attachment (`upload_id` is its URL). `received` bytes are stored in
#: `upload_chunks`; `complete` once they are all there and their SHA-256 matched. A discarded
#: upload (terminated, expired, or a whole-file hash that did not match) gets a new
#: `upload_id`; the last one discarded stays answerable as `retired_id` (410 `retired_rule`).
uploads = Table(
    "uploads",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("upload_id", String(32), nullable=False, unique=True),
    Column(
        "submission_id",
        String(64),
        ForeignKey("enrollments.submission_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created", Boolean, nullable=False),  # a tus creation (POST) made it an upload
    Column("received", BigInteger, nullable=False),  # the tus Upload-Offset
    Column("complete", Boolean, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("resends", Integer, nullable=False),  # discarded for a hash that did not match
    Column("retired_id", String(32), nullable=True, unique=True),
    Column("retired_rule", String(32), nullable=True),
    UniqueConstraint("submission_id", "name", name="uq_uploads_submission_name"),
    Index("ix_uploads_expires_at", "expires_at"),
)

#: The bytes of an upload, one row per acknowledged PATCH, sealed with the data key
#: (`ektp_sync.sealing`); any process can append the next chunk, and a restart loses none.
upload_chunks = Table(
    "upload_chunks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("upload", Id, ForeignKey("uploads.id", ondelete="CASCADE"), nullable=False),
    Column("start", BigInteger, nullable=False),
    Column("length", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
    UniqueConstraint("upload", "start", name="uq_upload_chunks_upload_start"),
)

SCHEMA = Schema(
    name="central",
    metadata=metadata,
    versions="central_server.store:migrations",
    version_table="alembic_version_central",
    lock_key=SCHEMA_LOCK_KEY,
    baseline="0001",
)
