"""Injected faults (error rate, latency, slow processing) the admin can switch at run time.

Office requests meet them through `deps.injected_faults` (after authentication), the dedup
worker through `processing_delay_seconds`.
"""

from __future__ import annotations

import asyncio
import random

from central_server.errors import FaultInjected
from ektp_sync import wire


class FaultInjector:
    """Holds the current faults; office requests pass through `before_office_request`."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.current = wire.Faults()
        self._rng = rng or random.Random()

    def update(self, change: wire.Faults) -> wire.Faults:
        """Only the fields present in the request change; the others keep their value."""
        changed = change.model_dump(include=change.model_fields_set)
        self.current = self.current.model_copy(update=changed)
        return self.current

    async def before_office_request(self) -> None:
        faults = self.current
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.error_rate and self._rng.random() < faults.error_rate:
            raise FaultInjected()

    @property
    def processing_delay_seconds(self) -> float:
        return float(self.current.processing_delay_ms) / 1000
