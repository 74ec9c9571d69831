"""The sync worker: starts and stops the pusher, the puller and the uploader of attachments.
One per local database."""

from __future__ import annotations

import asyncio
import logging
import uuid

from ektp_sync.config import LocalSettings
from ektp_sync.sealing import DataKey
from local_server.store import NodeStore
from local_server.sync.link import CentreLink
from local_server.sync.puller import Puller
from local_server.sync.pusher import Pusher
from local_server.sync.trust import CentreTrust
from local_server.sync.uploader import Uploader

logger = logging.getLogger(__name__)


class SyncWorker:
    """Owns the client and both loops; the app only calls start, wake and stop."""

    def __init__(self, store: NodeStore, settings: LocalSettings, key: DataKey) -> None:
        self.outbox = store.queue(owner=f"worker-{uuid.uuid4().hex[:12]}")
        self.inbox = store.decisions
        self.link = CentreLink.of(settings, outages=store.outages)
        self.breaker = self.link.breaker
        self._grace = settings.shutdown_grace_seconds
        self.pusher = Pusher(settings, self.outbox, self.link)
        self.trust = CentreTrust(settings, self.inbox)
        self.puller = Puller(settings, self.inbox, self.link, self.trust)
        self.uploader = Uploader(settings, store.packets, self.link, key)
        self.pusher.on_accepted = self.uploader.wake
        self.puller.on_decided = self.uploader.wake
        self.link.on_recovery(self.pusher.wake)
        self.link.on_recovery(self.puller.wake)
        self.link.on_recovery(self.uploader.wake)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.link.outages.load()
        await self.trust.load()
        # only one worker per database, so any lease found now was left by a crashed process
        released = await self.outbox.release_all()
        if released:
            logger.info("released %d leases left by a previous process", released)
        self._tasks = [
            asyncio.create_task(self.pusher.run(), name="ektp-pusher"),
            asyncio.create_task(self.puller.run(), name="ektp-puller"),
            asyncio.create_task(self.uploader.run(), name="ektp-uploader"),
        ]

    def wake(self) -> None:
        self.pusher.wake()

    @property
    def stopping(self) -> bool:
        return self.link.stopping

    async def stop(self) -> None:
        """Stop claiming; let travelling batches finish for the grace period, then cut them."""
        if self.link.closed:
            return
        self.link.stop()
        pending = await self._wait(self._grace)
        if pending:
            logger.info("shutdown: cutting %d exchanges still travelling", len(pending))
            self.link.abandon()
            pending = await self._wait(10.0)
        for task in pending:  # only a loop stuck outside its stop points gets here
            logger.error("sync loop %s did not stop; cancelling it", task.get_name())
            task.cancel()
        if await self._wait(10.0):
            logger.error("sync loops still running after cancellation; leaving them behind")
        # batches cut short are given back now instead of waiting for their leases to expire
        await self.outbox.release(list(self.pusher.leased))
        self.pusher.leased.clear()
        await self.link.outages.flush()
        await self.link.aclose()

    async def _wait(self, seconds: float) -> set[asyncio.Task[None]]:
        if not self._tasks:
            return set()
        _, pending = await asyncio.wait(self._tasks, timeout=seconds)
        return pending
