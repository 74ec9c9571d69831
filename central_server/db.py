"""Small helpers over SQLAlchemy that hide the one difference the centre cares about: dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central_server.tables import SCHEMA
from ektp_sync.migrations import Upgrade, upgrade

#: pg_advisory_xact_lock key serialising every decision across processes ("ektp" in ASCII)
DEDUP_LOCK_KEY = 0x656B7470


def is_postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


def insert_ignoring_conflicts(conn: AsyncConnection, table: Table, key: str) -> Any:
    """INSERT … ON CONFLICT (key) DO NOTHING, in the connection's dialect."""
    dialect_insert = postgresql.insert if is_postgres(conn) else sqlite.insert
    return dialect_insert(table).on_conflict_do_nothing(index_elements=[key])


async def advisory_xact_lock(conn: AsyncConnection, key: int) -> None:
    """Held until the transaction ends; SQLite needs none (one writer, BEGIN IMMEDIATE)."""
    if is_postgres(conn):
        await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({int(key)})")


async def create_schema(engine: AsyncEngine) -> Upgrade:
    """Migrate the centre's database to head (creating it when empty); see ektp_sync.migrations.

    Safe with several processes starting at once: they take turns on an advisory lock.
    """
    return await upgrade(engine, SCHEMA)
