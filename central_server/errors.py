"""The centre's refusals, named for what happened; their HTTP statuses are set at the edge (app).

Domain code (intake, feed, dedup) raises these and never picks a status; `rule` keys are stable
for scripts. Errors of reading a request body are shared with the node (`ektp_sync.body`).
"""

from __future__ import annotations

from ektp_sync.refusals import InvalidInput, Refusal, input_error


class CentreRefusal(Refusal):
    """Base of everything the centre turns down on purpose."""


class NotAuthenticated(CentreRefusal):
    default_rule = "auth"


class MissingApiKey(NotAuthenticated):
    def __init__(self) -> None:
        super().__init__("missing API key: send 'Authorization: Bearer <key>'")


class UnknownApiKey(NotAuthenticated):
    def __init__(self) -> None:
        super().__init__("unknown API key")


class NotAllowed(CentreRefusal):
    """A known caller on a route that is not for it."""


class AdminOnly(NotAllowed):
    default_rule = "admin_only"

    def __init__(self) -> None:
        super().__init__("this route needs the admin key")


class OfficeOnly(NotAllowed):
    default_rule = "office_only"

    def __init__(self) -> None:
        super().__init__("this route is for offices; the admin key has no office")


class SubmissionNotFound(CentreRefusal):
    """Unknown, or (to an office) another office's: both answered alike, so nothing leaks."""

    default_rule = "not_found"

    def __init__(self, submission_id: str) -> None:
        super().__init__(f"no submission {submission_id}")


class NotInReview(CentreRefusal):
    default_rule = "not_in_review"

    def __init__(self, submission_id: str, status: str) -> None:
        super().__init__(
            f"submission {submission_id} is {status}, not review; only a review can be adjudicated"
        )


class UnknownCursor(CentreRefusal, InvalidInput):
    """Answered as FastAPI answers a query parameter that fails validation (a `detail` list);
    the cursor itself is not echoed (it is the caller's own text)."""

    default_rule = "cursor"

    def __init__(self) -> None:
        msg = "not a cursor this centre issued; use the `next` of a page"
        InvalidInput.__init__(self, [input_error("cursor", ("query", "after"), msg)])


class Busy(CentreRefusal):
    """The centre takes nothing now; the client should come back after `retry_after` seconds."""

    default_rule = "unavailable"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class BacklogFull(Busy):
    default_rule = "backlog"

    def __init__(self, backlog: int, retry_after: int) -> None:
        super().__init__(
            f"the centre has {backlog} submissions waiting for de-duplication; retry later",
            retry_after,
        )


class FaultInjected(Busy):
    default_rule = "fault_injected"

    def __init__(self) -> None:
        super().__init__("injected fault: the centre is unavailable", 1)
