"""pytest plugin: start real centres, links and office nodes in tests, and await conditions.

Loaded automatically once ektp-sync is installed (entry point `pytest11`). A test reads like:

    async def test_backlog_drains(ektp_deployment):
        d = await ektp_deployment(profile="vsat-clear")
        office = OfficeClient(d.local_url())
        ids = [await office.record(r.record) for r in generate(20, seed=1)]
        await eventually(lambda: office.all_in(ids, {"approved"}), timeout=120)
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from ektp_sync.launch import Deployment

T = TypeVar("T")


class ConditionTimeout(AssertionError):
    """A condition awaited with `eventually` did not hold before its deadline."""


async def eventually(
    condition: Callable[[], Awaitable[T] | T],
    timeout: float = 60.0,
    interval: float = 0.2,
    message: str = "",
) -> T:
    """Poll `condition` (sync or async) until it returns something truthy; return that value.

    Exceptions from the condition count as "not yet" until the deadline, then the last one is
    reported, so a test never hangs and never sleeps longer than it must.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = condition()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
        except (AssertionError, httpx.HTTPError, KeyError) as exc:
            last_error = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise ConditionTimeout(f"not true within {timeout}s: {message}{detail}")
        await asyncio.sleep(interval)


class OfficeClient:
    """A thin client of one office node's HTTP API, for tests and scripts."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url.rstrip("/") + "/api/v1", timeout=30)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def record(self, body: dict[str, Any]) -> str:
        response = await self.http.post("/records", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def get(self, record_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/records/{record_id}")
        response.raise_for_status()
        return dict(response.json())

    async def all_records(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            page = (await self.http.get("/records", params=params)).raise_for_status().json()
            found.update((r["id"], r) for r in page["records"])
            cursor = page.get("next_cursor")
            if not cursor or not page["records"]:
                return found

    async def status(self) -> dict[str, Any]:
        return dict((await self.http.get("/status")).raise_for_status().json())

    async def all_in(self, ids: Iterable[str], states: set[str]) -> bool:
        records = await self.all_records()
        return all(records[i]["state"] in states for i in ids)


class CentreAdmin:
    """The centre's admin API (stats, reviews, faults) for tests."""

    def __init__(self, base_url: str, admin_key: str) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {admin_key}"},
            timeout=30,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def stats(self) -> dict[str, Any]:
        return dict((await self.http.get("/stats")).raise_for_status().json())

    async def faults(self, **faults: float) -> None:
        (await self.http.post("/admin/faults", json=faults)).raise_for_status()

    async def public_key(self) -> str:
        return str((await self.http.get("/keys")).raise_for_status().json()["public_key"])


DeploymentFactory = Callable[..., Awaitable[Deployment]]


@pytest.fixture
async def ektp_deployment(tmp_path: Path) -> AsyncIterator[DeploymentFactory]:
    """Factory fixture: `await ektp_deployment(**Deployment options, start=True)`.

    Every process it started is stopped at teardown, whatever the test did.
    """
    made: list[Deployment] = []

    async def make(start: bool = True, **options: Any) -> Deployment:
        deployment = Deployment(tmp_path / f"deployment{len(made)}", **options)
        made.append(deployment)
        if start:
            await deployment.start()
        return deployment

    try:
        yield make
    finally:
        for deployment in made:
            deployment.stop()
