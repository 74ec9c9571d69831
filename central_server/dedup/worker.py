"""The background loop that keeps deciding pending submissions until the server stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from central_server.dedup.engine import DedupEngine
from central_server.faults import FaultInjector

logger = logging.getLogger(__name__)

#: fallback poll, for submissions another process took in (its wake-up never reaches us)
POLL_SECONDS = 1.0
ERROR_BACKOFF_SECONDS = 1.0


class DedupWorker:
    """Decides batches of `batch_size`; `arrived` (set by intake) ends an idle wait at once."""

    def __init__(
        self,
        engine: DedupEngine,
        arrived: asyncio.Event,
        batch_size: int,
        faults: FaultInjector,
    ) -> None:
        self._engine = engine
        self._arrived = arrived
        self._batch_size = batch_size
        self._faults = faults

    async def run(self) -> None:
        """Runs until cancelled; a failing batch is logged and retried, never fatal."""
        while True:
            self._arrived.clear()
            try:
                taken = await self._one_batch()
            except Exception:
                logger.exception("dedup batch failed; retrying in %.1fs", ERROR_BACKOFF_SECONDS)
                await asyncio.sleep(ERROR_BACKOFF_SECONDS)
                continue
            if taken < self._batch_size:
                await self._idle()

    async def _one_batch(self) -> int:
        delay = self._faults.processing_delay_seconds
        if delay and await self._engine.has_pending():
            await asyncio.sleep(delay)
        return await self._engine.decide_pending(self._batch_size)

    async def _idle(self) -> None:
        # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(POLL_SECONDS):
                await self._arrived.wait()
