"""Follows the centre's decisions feed from a persisted cursor and pins the centre's key."""

from __future__ import annotations

import asyncio
import logging

from ektp_sync.config import LocalSettings
from ektp_sync.inbox import CURSOR_KEY, Inbox
from ektp_sync.signing import load_public_key
from ektp_sync.sync.client import CentralClient, CentralError, CentralUnreachable
from ektp_sync.sync.health import LinkMonitor
from ektp_sync.sync.policy import RetryPolicy

logger = logging.getLogger(__name__)

PAGE_SIZE = 500


class Puller:
    def __init__(
        self,
        settings: LocalSettings,
        inbox: Inbox,
        client: CentralClient,
        health: LinkMonitor,
        policy: RetryPolicy,
    ) -> None:
        self._settings = settings
        self._inbox = inbox
        self._client = client
        self._health = health
        self._policy = policy
        self._key_checked = False

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await self.check_key()
                more = await self.pull_once()
                failures = 0
                if more:
                    continue  # a full page: the feed has more right now
                delay = self._settings.decisions_poll_seconds
            except CentralError as exc:
                failures += 1
                self._health.failed(exc.message, answered=not isinstance(exc, CentralUnreachable))
                delay = max(
                    self._settings.decisions_poll_seconds,
                    self._policy.delay(failures, exc.retry_after),
                )
            except Exception:
                failures += 1
                logger.exception("pulling decisions failed unexpectedly")
                delay = self._policy.delay(failures)
            await asyncio.sleep(delay)

    async def check_key(self) -> None:
        """Pin the centre's public key once; a different key later is refused, loudly."""
        if self._key_checked:
            return
        configured = self._settings.central_public_key
        offered = configured if configured else await self._client.public_key()
        load_public_key(offered)  # refuse garbage before pinning it
        pinned = await self._inbox.pin_public_key(offered)
        if pinned != offered:
            message = (
                "centre offers a public key different from the pinned one; not accepted — "
                "print authorisations are still checked against the pinned key"
            )
            logger.error(message)
            self._health.problem(message)
        self._key_checked = True

    async def pull_once(self) -> bool:
        """Fetch and apply one page; True when the page was full (more may be waiting)."""
        cursor = await self._inbox.get(CURSOR_KEY)
        page = await self._client.decisions(cursor, PAGE_SIZE)
        self._health.succeeded()
        if page.decisions or page.next != cursor:
            applied = await self._inbox.apply(page.decisions, page.next)
            if applied:
                logger.info("applied %d decisions from the centre", applied)
        return len(page.decisions) >= PAGE_SIZE
