"""Fixtures of the migration tests: each server's `Schema`, and engines that are disposed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ektp_sync.migrations import Schema
from ektp_sync.storage import create_engine

from .support import SCHEMAS


@pytest.fixture(params=sorted(SCHEMAS))
def schema(request: pytest.FixtureRequest) -> Schema:
    return SCHEMAS[request.param]


@pytest.fixture
async def engines() -> AsyncIterator[Callable[[str], AsyncEngine]]:
    """Makes engines with the project's settings; all are disposed at teardown."""
    made: list[AsyncEngine] = []

    def make(url: str) -> AsyncEngine:
        made.append(create_engine(url))
        return made[-1]

    yield make
    for engine in made:
        await engine.dispose()
