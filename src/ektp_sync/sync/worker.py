"""The sync worker: starts and stops the pusher and the puller. One per local database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from ektp_sync.config import LocalSettings
from ektp_sync.inbox import Inbox
from ektp_sync.outbox import Outbox
from ektp_sync.sync.client import CentralClient
from ektp_sync.sync.health import LinkMonitor
from ektp_sync.sync.policy import RetryPolicy
from ektp_sync.sync.puller import Puller
from ektp_sync.sync.pusher import Pusher

logger = logging.getLogger(__name__)


class SyncWorker:
    """Owns the client and both loops; the app only calls start, wake and stop."""

    def __init__(self, engine: AsyncEngine, settings: LocalSettings) -> None:
        self.health = LinkMonitor(url=settings.central_url)
        self.outbox = Outbox(engine, owner=f"worker-{uuid.uuid4().hex[:12]}")
        self.inbox = Inbox(engine)
        self._client = CentralClient(settings)
        policy = RetryPolicy(settings.backoff_base, settings.backoff_cap)
        self.pusher = Pusher(settings, self.outbox, self._client, self.health, policy)
        self.puller = Puller(settings, self.inbox, self._client, self.health, policy)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        # only one worker per database, so any lease found now was left by a crashed process
        released = await self.outbox.release_all()
        if released:
            logger.info("released %d leases left by a previous process", released)
        self._tasks = [
            asyncio.create_task(self.pusher.run(), name="ektp-pusher"),
            asyncio.create_task(self.puller.run(), name="ektp-puller"),
        ]

    def wake(self) -> None:
        self.pusher.wake()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # batches cut short are given back now instead of waiting for their leases to expire
        await self.outbox.release(list(self.pusher.leased))
        self.pusher.leased.clear()
        await self._client.aclose()
