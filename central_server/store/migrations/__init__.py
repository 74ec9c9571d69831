"""Revisions of the centre's schema (Alembic; the runner is ektp_sync.migrations)."""
