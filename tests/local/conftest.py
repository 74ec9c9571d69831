"""Fixtures of the local node's tests: settings, residents, an app with its lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from ektp_sync.config import LocalSettings
from ektp_sync.signing import Signer
from local_server.app import create_app

from .fake_centre import API_KEY, CENTRE_KEY, FakeCentre, serve
from .fake_tus import FakeUploads

SUPERVISOR_TOKEN = "supervisor-token-" + "s" * 16
CLERK_TOKEN = "clerk-token-" + "c" * 16
#: the operators of every test node: a supervisor (the default client's) and a clerk
OPERATORS = {"sari": f"{SUPERVISOR_TOKEN}:supervisor", "budi": f"{CLERK_TOKEN}:clerk"}


@pytest.fixture
def settings_for(db_url: str, tmp_path: Path) -> Callable[..., LocalSettings]:
    """Settings with quick retries, pointing at `central_url`, pinning `CENTRE_KEY` (the
    default FakeCentre's), with the operators of `OPERATORS`; keys in a scratch data dir."""

    def make(central_url: str = "http://127.0.0.1:9", **overrides: Any) -> LocalSettings:
        values: dict[str, Any] = {
            "db_url": db_url,
            "data_dir": tmp_path / "node",
            "central_url": central_url,
            "api_key": API_KEY,
            "central_public_key": Signer(CENTRE_KEY).public_key_b64,
            "operators": OPERATORS,
            "backoff_base": 0.05,
            "backoff_cap": 0.3,
            "idle_poll_seconds": 0.1,
            "decisions_poll_seconds": 0.1,
            "connect_timeout": 2.0,
            "request_timeout": 5.0,
            "lease_seconds": 30.0,
            "breaker_probe_seconds": 0.5,
            "shutdown_grace_seconds": 0.5,
            **overrides,
        }
        return LocalSettings(**values)

    return make


@contextlib.asynccontextmanager
async def running(
    app: FastAPI, token: str | None = SUPERVISOR_TOKEN
) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and talk to it in-process, as the operator of `token` (the
    supervisor by default; None: no Authorization header)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost/api/v1", headers=headers
        ) as client:
            yield client


@pytest.fixture
async def node(settings_for: Callable[..., LocalSettings]) -> AsyncIterator[httpx.AsyncClient]:
    """An office node whose centre is unreachable (nothing listens on port 9)."""
    async with running(create_app(settings_for())) as client:
        yield client


@pytest.fixture
async def centre() -> AsyncIterator[tuple[FakeCentre, str]]:
    """A stand-in centre served by real uvicorn on a loopback port, and its URL."""
    fake = FakeCentre()
    async with serve(fake.app()) as url:
        yield fake, url


@pytest.fixture
async def tus() -> AsyncIterator[tuple[FakeUploads, str]]:
    """A stand-in centre that also takes tus uploads of attachments (heavy packets)."""
    fake = FakeCentre()
    uploads = FakeUploads(fake)
    app = fake.app()
    uploads.install(app)
    async with serve(app) as url:
        yield uploads, url


async def record(node: httpx.AsyncClient, body: dict[str, Any]) -> str:
    """POST /records, asserting 201; the new record's id."""
    response = await node.post("/records", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
