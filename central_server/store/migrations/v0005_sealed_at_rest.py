"""Personal data sealed at rest: NIKs, records, templates, errors and authorisations.

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-02

Each clear column becomes a sealed one (AES-256-GCM under the data key, bound to its table,
column and submission id, see central_server.store.sealed): enrollments' nik, errors, record,
template and authorisation; identities' nik and template; the decision log's nik and
authorisation. An inline attachment's `content` (photo, signature…) is sealed in place (bound
to its submission id and name). `identities.nik_lookup`, a keyed hash of the NIK, takes over
the uniqueness the database enforced on `identities.nik`. Rows already there are sealed in this
revision's transaction, which therefore needs the data key (`revision_data_key`); an empty
database needs none. The context format is the running centre's (CentreSealer), so rows
sealed here open like rows it seals itself.

Downgrade only on an empty database: it would have to write the data back in clear.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from central_server.store.sealed import CentreSealer, attachment_id, log_entry_id
from ektp_sync.migrations import MigrationError, revision_data_key
from ektp_sync.migrations.rows import count_rows, rewrite_rows

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None

#: table → (clear column, its type, sealed column), in the order the sealed ones are added
SEALED: dict[str, list[tuple[str, Any, str]]] = {
    "enrollments": [
        ("nik", sa.String(32), "nik_sealed"),
        ("errors", sa.JSON(), "errors_sealed"),
        ("record", sa.JSON(), "record_sealed"),
        ("template", sa.LargeBinary(), "template_sealed"),
        ("authorisation", sa.JSON(), "authorisation_sealed"),
    ],
    "identities": [
        ("nik", sa.String(16), "nik_sealed"),
        ("template", sa.LargeBinary(), "template_sealed"),
    ],
    "decision_log": [
        ("nik", sa.String(16), "nik_sealed"),
        ("authorisation", sa.JSON(), "authorisation_sealed"),
    ],
}
#: sealed columns that may not be null once every row has them
REQUIRED = {"identities": {"nik_sealed", "template_sealed"}, "decision_log": {"nik_sealed"}}
KEYS = {"enrollments": "id", "identities": "id", "decision_log": "seq"}
#: the PostgreSQL name create_all gives `UNIQUE (nik_lookup)`; named so here on both databases
UNIQUE_LOOKUP = "identities_nik_lookup_key"


def _table(name: str) -> sa.TableClause:
    columns: list[sa.ColumnClause[Any]] = [sa.column(KEYS[name]), sa.column("submission_id")]
    if name == "decision_log":
        columns.append(sa.column("status", sa.String()))
    for clear, kind, sealed in SEALED[name]:
        columns += [sa.column(clear, kind), sa.column(sealed, sa.LargeBinary())]
    if name == "identities":
        columns.append(sa.column("nik_lookup", sa.String()))
    return sa.table(name, *columns)


#: inline attachments: `content` keeps its name, sealed in place (as `upload_chunks.content`)
ATTACHMENTS = sa.table(
    "attachments",
    sa.column("id"),
    sa.column("submission_id", sa.String()),
    sa.column("name", sa.String()),
    sa.column("content", sa.LargeBinary()),
)


def upgrade() -> None:
    key = revision_data_key(sum(count_rows(name) for name in SEALED))
    for name, columns in SEALED.items():
        with op.batch_alter_table(name) as batch:
            if name == "identities":
                batch.add_column(sa.Column("nik_lookup", sa.String(64), nullable=True))
            for _, _, sealed in columns:
                batch.add_column(sa.Column(sealed, sa.LargeBinary(), nullable=True))
    if key is not None:
        _seal_rows(CentreSealer(key))
    for name, columns in SEALED.items():
        with op.batch_alter_table(name) as batch:
            for clear, _, sealed in columns:
                batch.drop_column(clear)
                if sealed in REQUIRED.get(name, ()):
                    batch.alter_column(sealed, existing_type=sa.LargeBinary(), nullable=False)
            if name == "identities":
                batch.alter_column("nik_lookup", existing_type=sa.String(64), nullable=False)
                batch.create_unique_constraint(UNIQUE_LOOKUP, ["nik_lookup"])


def _seal_rows(sealer: CentreSealer) -> None:
    def enrollment(row: tuple[Any, ...]) -> dict[str, Any]:
        _, sid, nik, errors, record, template, authorisation = row
        return {
            "nik_sealed": sealer.seal_text("enrollments.nik", sid, nik),
            "errors_sealed": sealer.seal_json("enrollments.errors", sid, errors),
            "record_sealed": sealer.seal_json("enrollments.record", sid, record),
            "template_sealed": sealer.seal_bytes("enrollments.template", sid, template),
            "authorisation_sealed": sealer.seal_json(
                "enrollments.authorisation", sid, authorisation
            ),
        }

    def identity(row: tuple[Any, ...]) -> dict[str, Any]:
        _, sid, nik, template = row
        return {
            "nik_lookup": sealer.nik_lookup(nik),
            "nik_sealed": sealer.seal_text("identities.nik", sid, nik),
            "template_sealed": sealer.seal_bytes("identities.template", sid, template),
        }

    def log_entry(row: tuple[Any, ...]) -> dict[str, Any]:
        _, sid, status, nik, authorisation = row
        entry = log_entry_id(sid, status)
        return {
            "nik_sealed": sealer.seal_text("decision_log.nik", entry, nik),
            "authorisation_sealed": sealer.seal_json(
                "decision_log.authorisation", entry, authorisation
            ),
        }

    for name, convert, extra in (
        ("enrollments", enrollment, []),
        ("identities", identity, []),
        ("decision_log", log_entry, ["status"]),
    ):
        read = ["submission_id", *extra, *(clear for clear, _, _ in SEALED[name])]
        rewrite_rows(_table(name), KEYS[name], read, convert)

    def attachment(row: tuple[Any, ...]) -> dict[str, Any]:
        _, sid, name, content = row
        return {
            "content": sealer.seal_bytes("attachments.content", attachment_id(sid, name), content)
        }

    rewrite_rows(ATTACHMENTS, "id", ["submission_id", "name", "content"], attachment)


def downgrade() -> None:
    if sum(count_rows(name) for name in SEALED):
        raise MigrationError(
            "sealed submissions cannot be downgraded to clear text: restore a backup made "
            "before the upgrade"
        )
    for name, columns in SEALED.items():
        with op.batch_alter_table(name) as batch:
            if name == "identities":
                batch.drop_constraint(UNIQUE_LOOKUP, type_="unique")
                batch.drop_column("nik_lookup")
            for clear, kind, sealed in columns:
                batch.drop_column(sealed)
                nullable = name == "enrollments" or clear == "authorisation"
                batch.add_column(sa.Column(clear, kind, nullable=nullable))
            if name == "identities":
                batch.create_unique_constraint("identities_nik_key", ["nik"])
