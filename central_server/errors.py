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


# ---- resumable uploads (tus 1.0.0, /api/v1/uploads) ---------------------------------------


class UploadRefusal(CentreRefusal):
    """Base of what the tus routes turn down."""


class BadUploadRequest(UploadRefusal):
    """A tus request missing a header or with one that does not parse (400)."""


class TusVersionMismatch(UploadRefusal):
    default_rule = "tus_version"

    def __init__(self, sent: str | None) -> None:
        super().__init__(f"Tus-Resumable {sent!r} is not supported; this server speaks 1.0.0")


class UploadNotFound(UploadRefusal):
    """Unknown, or another office's: both answered alike, so nothing leaks."""

    default_rule = "not_found"

    def __init__(self, what: str) -> None:
        super().__init__(f"no {what}")


class UploadGone(UploadRefusal):
    """The upload at this URL was discarded (`resend_requested`: its SHA-256 did not match
    the manifest; `upload_expired`) or is not needed (`not_needed`: the submission was
    rejected); a creation (POST) for the same submission and name starts it again."""

    def __init__(self, detail: str, rule: str) -> None:
        super().__init__(detail, rule)


class NotInManifest(UploadRefusal):
    """The creation does not match the submission's manifest (name, size or hash)."""


class OffsetMismatch(UploadRefusal):
    default_rule = "upload_offset"

    def __init__(self, sent: int, offset: int) -> None:
        super().__init__(f"Upload-Offset {sent} does not match the upload's offset {offset}")


class UploadComplete(UploadRefusal):
    default_rule = "upload_complete"

    def __init__(self) -> None:
        super().__init__("the upload is complete and verified; it is kept, not terminated")


class ChunkChecksumMismatch(UploadRefusal):
    default_rule = "checksum_mismatch"

    def __init__(self, algorithm: str) -> None:
        super().__init__(f"the chunk's {algorithm} does not match Upload-Checksum; nothing stored")


class PastUploadLength(UploadRefusal):
    default_rule = "upload_length_exceeded"

    def __init__(self, end: int, length: int) -> None:
        super().__init__(f"the chunk would end at byte {end}, past Upload-Length {length}")


class WrongContentType(UploadRefusal):
    default_rule = "content_type"

    def __init__(self) -> None:
        super().__init__("a PATCH carries Content-Type: application/offset+octet-stream")
