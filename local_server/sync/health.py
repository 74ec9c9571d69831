"""Link health of the office node, kept in memory and shown on /status (through the link)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from ektp_sync.storage import utcnow

logger = logging.getLogger(__name__)


@dataclass
class LinkMonitor:
    """What the sync engine last saw of the centre (not persisted: a restart starts afresh)."""

    url: str
    reachable: bool | None = None
    consecutive_failures: int = 0
    last_contact_at: dt.datetime | None = None
    last_success_at: dt.datetime | None = None
    last_error: str | None = None
    in_flight_batches: int = 0

    def contacted(self) -> None:
        """The centre answered (any HTTP answer proves the link works)."""
        self.reachable = True
        self.last_contact_at = utcnow()

    def succeeded(self) -> None:
        self.contacted()
        if self.consecutive_failures:
            logger.info("link to centre works again after %d failures", self.consecutive_failures)
        self.consecutive_failures = 0
        self.last_success_at = self.last_contact_at

    def failed(self, error: str, *, answered: bool) -> None:
        if answered:
            self.contacted()
        else:
            self.reachable = False
        self.consecutive_failures += 1
        self.last_error = error

    def problem(self, error: str) -> None:
        """An error that is not a link failure (e.g. the centre's key changed)."""
        self.last_error = error
