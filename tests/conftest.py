"""Shared fixtures: every database test runs on SQLite and on the machine's PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

PG_URL = os.environ.get("EKTP_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("EKTP_REQUIRE_PG") == "1"
PG_HINT = (
    "PostgreSQL not reachable at {url} ({error}); start it, or point EKTP_TEST_PG_URL at a "
    "server where the user may CREATE DATABASE, to run the PostgreSQL variant of the tests"
)


async def _pg_admin() -> asyncpg.Connection:
    return await asyncpg.connect(PG_URL, timeout=5)


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database URL in the contract's plain form, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    async for url in _fresh_pg_database():
        yield url


async def _fresh_pg_database() -> AsyncIterator[str]:
    try:
        admin = await _pg_admin()
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        message = PG_HINT.format(url=PG_URL, error=exc)
        if REQUIRE_PG:
            pytest.fail(message)
        pytest.skip(message)
    name = f"ektp_test_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        base = PG_URL.rsplit("/", 1)[0]
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database only (for tests that need several processes on one DB)."""
    async for url in _fresh_pg_database():
        yield url
