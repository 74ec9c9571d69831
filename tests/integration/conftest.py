"""Integration tests start both servers as real uvicorn processes on loopback ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from ektp_sync.launch import Deployment
from ektp_sync.testing import FAST_RETRY, CentreAdmin, DeploymentFactory, OfficeClient


@pytest.fixture
async def started(
    # db_factory first: its databases must outlive the servers that ektp_deployment stops
    db_factory: Callable[[], Awaitable[str]],
    ektp_deployment: DeploymentFactory,
) -> AsyncIterator[
    Callable[..., Awaitable[tuple[Deployment, dict[str, OfficeClient], CentreAdmin]]]
]:
    """Start a deployment on this test's backend; returns it with office and admin clients."""
    clients: list[OfficeClient | CentreAdmin] = []

    async def start(
        offices: tuple[str, ...] = ("6172",), **options: Any
    ) -> tuple[Deployment, dict[str, OfficeClient], CentreAdmin]:
        options.setdefault("local_env", FAST_RETRY)
        d = await ektp_deployment(
            offices=offices,
            central_db=await db_factory(),
            local_dbs={code: await db_factory() for code in offices},
            **options,
        )
        offices_clients = {code: OfficeClient.of(d, code) for code in offices}
        admin = CentreAdmin.of(d)
        clients.extend([*offices_clients.values(), admin])
        return d, offices_clients, admin

    yield start
    for client in clients:
        await client.aclose()
