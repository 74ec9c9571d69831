"""Read-only views of the centre for offices and the admin: one submission, and the stats."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from central_server.errors import SubmissionNotFound
from central_server.store.views import ViewStore
from ektp_sync.wire import CentralStats, EnrollmentView


class Views:
    def __init__(self, store: ViewStore, office_codes: Iterable[str]) -> None:
        self._store = store
        #: every configured office is listed in the stats, even one that sent nothing yet
        self._office_codes = tuple(office_codes)

    async def enrollment(
        self, submission_id: str, office_code: str | None = None
    ) -> EnrollmentView:
        """One submission; with `office_code`, only if that office sent it (the admin passes
        None). Another office's submission is answered exactly like a missing one: no probing."""
        view = await self._store.enrollment(submission_id)
        if view is None or (office_code is not None and view.office_code != office_code):
            raise SubmissionNotFound(submission_id)
        return view

    async def stats(self) -> CentralStats:
        """Counts over every stored submission, invalid ones included (under status `invalid`)."""
        counts = await self._store.counts()
        by_status: dict[str, int] = defaultdict(int)
        by_reason: dict[str, int] = defaultdict(int)
        offices: dict[str, dict[str, Any]] = {
            code: {"enrollments": 0, "by_status": {}} for code in self._office_codes
        }
        for count in counts.submissions:
            status = count.status.value
            by_status[status] += count.n
            if count.reason is not None:
                by_reason[count.reason.value] += count.n
            office = offices.setdefault(count.office_code, {"enrollments": 0, "by_status": {}})
            office["enrollments"] += count.n
            office["by_status"][status] = office["by_status"].get(status, 0) + count.n
        return CentralStats(
            enrollments=sum(by_status.values()),
            identities=counts.identities,
            by_status=dict(by_status),
            by_reason=dict(by_reason),
            offices=offices,
        )

    async def totals(self) -> tuple[int, int]:
        """(identities enrolled, submissions waiting for de-duplication), for /metrics."""
        return await self._store.totals()
