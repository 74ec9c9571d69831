"""Link health of the office node, kept in memory and shown on /status (through the link)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ektp_sync.storage import utcnow


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
    #: when the current run of failures began (None after a success)
    failing_since: dt.datetime | None = None

    def contacted(self) -> None:
        """The centre answered (any HTTP answer proves the link works)."""
        self.reachable = True
        self.last_contact_at = utcnow()

    def succeeded(self) -> None:
        # an outage's end is logged by the link's outage log, with its duration
        self.contacted()
        self.consecutive_failures = 0
        self.failing_since = None
        self.last_success_at = self.last_contact_at

    def failed(self, error: str, *, answered: bool) -> None:
        if answered:
            self.contacted()
        else:
            self.reachable = False
        if not self.consecutive_failures:
            self.failing_since = utcnow()
        self.consecutive_failures += 1
        self.last_error = error

    def problem(self, error: str) -> None:
        """An error that is not a link failure (e.g. the centre's key changed)."""
        self.last_error = error
