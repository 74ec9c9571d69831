"""Alembic's env.py for both servers: runs the revisions on the connection `upgrade` gives it.

Alembic loads this file itself; the `Schema` (tables, version table) and the connection, already
inside the caller's locked transaction, come through `config.attributes` (see
`ektp_sync.migrations.alembic_config`). Offline mode (SQL scripts) is not offered.
"""

from __future__ import annotations

from alembic import context

from ektp_sync.migrations import Schema

schema: Schema = context.config.attributes["schema"]
connection = context.config.attributes["connection"]
if connection is None or context.is_offline_mode():
    raise RuntimeError("run migrations through ektp_sync.migrations.upgrade (or the CLI)")

context.configure(
    connection=connection,
    target_metadata=schema.metadata,
    version_table=schema.version_table,
    include_name=schema.include_name,
    compare_type=True,
    # SQLite's ALTER TABLE can do little: batch mode rebuilds the table instead
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
