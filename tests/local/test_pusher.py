"""The pusher's handling of one batch: per-item outcomes, 413 splitting, auth errors."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ektp_sync.config import LocalSettings
from ektp_sync.storage import create_engine, utcnow
from local_server.store.queue import Outbox, enqueue
from local_server.store.tables import create_tables, outbox, records
from local_server.sync.client import CentreClient
from local_server.sync.health import LinkMonitor
from local_server.sync.link import CentreLink
from local_server.sync.pusher import Pusher

from .fake_centre import FakeCentre, serve
from .residents import resident
from .sealing import SEALER

Parts = tuple[Pusher, Outbox, AsyncEngine, FakeCentre, LinkMonitor]


@pytest.fixture
async def parts(settings_for: Callable[..., LocalSettings]) -> AsyncIterator[Parts]:
    fake = FakeCentre()
    async with serve(fake.app()) as url:
        settings = settings_for(url)
        engine = create_engine(settings.database_url)
        await create_tables(engine)
        client = CentreClient(settings)
        link = CentreLink.of(settings, client)
        health = link.health
        queue = Outbox(engine, owner="test", sealer=SEALER)
        pusher = Pusher(settings, queue, link)
        try:
            yield pusher, queue, engine, fake, health
        finally:
            await client.aclose()
            await engine.dispose()


async def add(engine: AsyncEngine, serials: list[int]) -> None:
    for i, serial in enumerate(serials):
        body = resident(serial)
        payload = json.dumps(body)
        now = utcnow() + dt.timedelta(microseconds=i)
        async with engine.begin() as conn:
            await conn.execute(
                records.insert().values(
                    id=f"r{serial:05d}",
                    **SEALER.record_columns(f"r{serial:05d}", body["nik"], payload),
                    state="queued",
                    in_flight=True,
                    submission_id=f"6172-s{serial}",
                    payload_bytes=len(payload),
                    attempts=0,
                    created_at=now,
                    updated_at=now,
                )
            )
            await enqueue(conn, f"r{serial:05d}", len(payload))


async def states(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(records.c.id, records.c.state))).all()
    return {r.id: r.state for r in rows}


async def test_a_413_splits_the_batch_until_it_fits(parts: Parts) -> None:
    pusher, queue, engine, fake, _ = parts
    fake.max_items = 1
    await add(engine, [1, 2, 3, 4])
    batch = await queue.claim(10, 10_000_000, 60)
    assert len(batch) == 4
    await pusher.deliver(batch)
    assert set((await states(engine)).values()) == {"awaiting_decision"}
    assert sorted(len(b) for b in fake.batches) == [1, 1, 1, 1]
    async with engine.connect() as conn:
        assert (await conn.execute(select(outbox))).all() == []


async def test_a_single_item_refused_as_too_large_fails(parts: Parts) -> None:
    pusher, queue, engine, fake, _ = parts
    fake.max_items = 0
    await add(engine, [5])
    await pusher.deliver(await queue.claim(10, 10_000_000, 60))
    assert await states(engine) == {"r00005": "failed"}


async def test_mixed_outcomes_in_one_batch(parts: Parts) -> None:
    pusher, queue, engine, fake, health = parts
    fake.invalid_niks.add(resident(7)["nik"])
    await add(engine, [6, 7])
    await pusher.deliver(await queue.claim(10, 10_000_000, 60))
    assert await states(engine) == {"r00006": "awaiting_decision", "r00007": "failed"}
    assert health.consecutive_failures == 0
    assert health.last_success_at is not None


async def test_a_wrong_api_key_is_retried_never_failed(parts: Parts) -> None:
    pusher, queue, engine, _, health = parts
    pusher._link.client._http.headers["Authorization"] = "Bearer wrong"
    await add(engine, [8])
    await pusher.deliver(await queue.claim(10, 10_000_000, 60))
    assert await states(engine) == {"r00008": "queued"}
    async with engine.connect() as conn:
        entry = (await conn.execute(select(outbox))).one()
    assert entry.attempts == 1
    assert "API key" in SEALER.open_error("outbox.last_error", "r00008", entry.last_error)
    assert health.reachable is True
    assert health.consecutive_failures == 1
