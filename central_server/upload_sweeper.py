"""The background loop that discards unfinished uploads past their Upload-Expires."""

from __future__ import annotations

import asyncio
import logging

from central_server.packets import Packets

logger = logging.getLogger(__name__)

#: at most this long between sweeps; an expiry shorter than twice it is swept twice as often
MAX_SWEEP_SECONDS = 60.0


async def sweep_expired_uploads(packets: Packets, expiry_seconds: float) -> None:
    """Runs until cancelled; a failing sweep is logged and tried again at the next turn."""
    interval = min(MAX_SWEEP_SECONDS, expiry_seconds / 2)
    while True:
        await asyncio.sleep(interval)
        try:
            await packets.sweep()
        except Exception:
            logger.exception("sweeping expired uploads failed; trying again in %.0fs", interval)
