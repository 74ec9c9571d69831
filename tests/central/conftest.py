"""Fixtures for the centre: settings on each database, and a running app with HTTP clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from central_server.app import create_app
from central_server.parts import CentreParts
from ektp_sync.config import CentralSettings

OFFICES = {"6172": "key-singkawang", "6101": "key-sambas"}
ADMIN_KEY = "key-admin"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> CentralSettings:
    return CentralSettings(data_dir=tmp_path, db_url=db_url, offices=OFFICES, admin_key=ADMIN_KEY)


@dataclass
class Centre:
    app: FastAPI

    def client(self, key: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://centre/api/v1",
            headers=headers,
        )

    def office(self, code: str = "6172") -> httpx.AsyncClient:
        return self.client(OFFICES[code])

    def admin(self) -> httpx.AsyncClient:
        return self.client(ADMIN_KEY)

    @property
    def parts(self) -> CentreParts:
        parts: CentreParts = self.app.state.centre
        return parts


async def running(settings: CentralSettings, **kwargs: object) -> AsyncIterator[Centre]:
    app = create_app(settings, **kwargs)  # type: ignore[arg-type]
    async with app.router.lifespan_context(app):
        yield Centre(app)


@pytest.fixture
async def centre(settings: CentralSettings) -> AsyncIterator[Centre]:
    async for running_centre in running(settings):
        yield running_centre
