"""Revisions of the office node's schema (Alembic; the runner is ektp_sync.migrations)."""
