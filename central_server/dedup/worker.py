"""The background loop that keeps deciding pending submissions until the server stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from central_server.dedup.engine import DedupEngine
from central_server.state import CentralState

logger = logging.getLogger(__name__)

#: fallback poll, for submissions another process took in (its wake-up never reaches us)
POLL_SECONDS = 1.0
ERROR_BACKOFF_SECONDS = 1.0


class DedupWorker:
    def __init__(self, state: CentralState, engine: DedupEngine) -> None:
        self._state = state
        self._engine = engine

    async def run(self) -> None:
        """Runs until cancelled; a failing batch is logged and retried, never fatal."""
        while True:
            self._state.wake.clear()
            try:
                taken = await self._one_batch()
            except Exception:
                logger.exception("dedup batch failed; retrying in %.1fs", ERROR_BACKOFF_SECONDS)
                await asyncio.sleep(ERROR_BACKOFF_SECONDS)
                continue
            if taken < self._state.settings.dedup_batch_size:
                await self._idle()

    async def _one_batch(self) -> int:
        delay = self._state.faults.processing_delay_seconds
        if delay and await self._engine.has_pending():
            await asyncio.sleep(delay)
        return await self._engine.decide_pending(self._state.settings.dedup_batch_size)

    async def _idle(self) -> None:
        # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(POLL_SECONDS):
                await self._state.wake.wait()
