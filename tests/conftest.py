"""Shared fixtures: every database test runs on SQLite and on the machine's PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

PG_URL = os.environ.get("EKTP_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("EKTP_REQUIRE_PG") == "1"
PG_HINT = (
    "PostgreSQL not reachable at {url} ({error}); start it, or point EKTP_TEST_PG_URL at a "
    "server where the user may CREATE DATABASE, to run the PostgreSQL variant of the tests"
)

DbFactory = Callable[[], Awaitable[str]]


async def _pg_admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(PG_URL, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        message = PG_HINT.format(url=PG_URL, error=exc)
        if REQUIRE_PG:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_factory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DbFactory]:
    """Makes fresh, empty databases (contract-style plain URLs), once per backend."""
    if request.param == "sqlite":
        counter = iter(range(1_000_000))

        async def make_sqlite() -> str:
            return f"sqlite:///{tmp_path / f'db{next(counter)}.db'}"

        yield make_sqlite
        return
    admin = await _pg_admin()
    created: list[str] = []

    async def make_pg() -> str:
        name = f"ektp_test_{uuid.uuid4().hex[:12]}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return f"{PG_URL.rsplit('/', 1)[0]}/{name}"

    try:
        yield make_pg
    finally:
        for name in created:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def db_url(db_factory: DbFactory) -> str:
    """A fresh, empty database URL in the contract's plain form, once per backend."""
    return await db_factory()


@pytest.fixture
async def pg_url(tmp_path: Path) -> AsyncIterator[str]:
    """A fresh PostgreSQL database only (for tests that need several processes on one DB)."""
    admin = await _pg_admin()
    name = f"ektp_test_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
