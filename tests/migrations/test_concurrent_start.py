"""Several centre processes starting at once on one fresh PostgreSQL database all come up.

Each process migrates in its lifespan; the advisory lock makes them take turns, so exactly one
creates the schema and the others find it at head (without it, concurrent CREATE TABLEs of the
same names fail or wait on each other's uncommitted catalogue rows). The test holds that lock
until all of them queue on it, so the race is real and not left to start-up timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from central_server.store.tables import SCHEMA as CENTRAL
from ektp_sync.launch import ServerProcess, central_process, free_port
from ektp_sync.migrations import current_revision, head, schema_diff
from ektp_sync.storage import create_engine
from ektp_sync.testing import eventually

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def processes() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for process in started:
        process.stop()


async def test_centres_starting_at_once_on_a_fresh_database_all_come_up(
    pg_url: str, tmp_path: Path, processes: list[ServerProcess]
) -> None:
    offices = {"6172": "key-6172"}
    # three processes race: a single one and a `--workers 2` one (two lifespans of its own)
    processes += [
        central_process(tmp_path / "a", free_port(), offices, "admin", db_url=pg_url),
        central_process(tmp_path / "b", free_port(), offices, "admin", db_url=pg_url, workers=2),
    ]
    # hold the schema lock ourselves until all three wait for it, so they really race; a start
    # path without the lock would never queue here and the test would time out
    gate = await asyncpg.connect(pg_url)
    try:
        await gate.execute("SELECT pg_advisory_lock($1)", CENTRAL.lock_key)
        for process in processes:
            process.start()
        await eventually(lambda: _waiting(gate), timeout=120, message="3 waiting for the lock")
        await gate.execute("SELECT pg_advisory_unlock($1)", CENTRAL.lock_key)
    finally:
        await gate.close()
    await asyncio.gather(*(process.wait_ready(timeout=120) for process in processes))

    def logs() -> str:
        return "\n".join(p.log_path.read_text(errors="replace") for p in processes)

    # a healthy port proves one lifespan of the `--workers 2` process; wait for all three
    await eventually(
        lambda: logs().count("Application startup complete.") == 3,
        timeout=120,
        message="three lifespans",
    )
    assert "startup failed" not in logs() and "Traceback" not in logs(), logs()
    engine = create_engine(pg_url)
    try:
        assert await current_revision(engine, CENTRAL) == head(CENTRAL)
        assert await _count(engine, CENTRAL.version_table) == 1
        assert await schema_diff(engine, CENTRAL) == []
    finally:
        await engine.dispose()


async def _count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def _waiting(gate: asyncpg.Connection) -> bool:
    # pg_locks is server-wide: count only this database's schema lock (a bigint key's low half)
    waiting = await gate.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND objid = $1 AND database = (SELECT oid FROM pg_database "
        "WHERE datname = current_database())",
        CENTRAL.lock_key,
    )
    return bool(waiting == 3)
