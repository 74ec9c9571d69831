"""Every error the office node raises on purpose, named for what happened; no HTTP here.

Three branches under `NodeError`:

- `RecordRefused` (a shared `Refusal`): what the node refuses an operator (unknown record, a
  state that forbids the action, a bad query). `detail` is a sentence, `rule` a stable key for
  scripts; `errors_http` gives each its status. A correction that breaks a record's rules is the
  shared `InvalidBody`, answered exactly as a new recording that breaks them.
- `AccessRefused` (a shared `Refusal`): a request turned away before its content counts (no or
  unknown operator token, too small a role, not JSON, unknown Host).
- `CentreExchangeError`: an exchange with the centre did not succeed (the node is the client
  here). The message is a sentence an operator can act on; the sync loops decide what follows.
"""

from __future__ import annotations

from ektp_sync.domain.nik import mask_nik
from ektp_sync.refusals import InvalidInput, Refusal, input_error


class NodeError(Exception):
    """Base of every error the office node raises on purpose."""


class RecordRefused(NodeError, Refusal):
    """An operator's request the node refuses: `detail` for people, `rule` for scripts."""

    def __init__(self, detail: str, rule: str) -> None:
        Refusal.__init__(self, detail, rule)


class RecordNotFound(RecordRefused):
    def __init__(self, record_id: str) -> None:
        super().__init__(f"no record with id {record_id!r} on this node", "record_not_found")


class RecordConflict(RecordRefused):
    """The record's state (or another record) does not allow what was asked."""


class NikInFlight(RecordConflict):
    """Another record of this NIK is still on its way (the one-in-flight-per-NIK rule)."""

    def __init__(self, nik: str) -> None:
        super().__init__(
            f"a record with NIK {mask_nik(nik)} is still in flight on this node "
            "(queued, uploading, awaiting decision or in review); wait for its decision",
            "nik_in_flight",
        )


class InvalidQuery(RecordRefused, InvalidInput):
    """A query parameter the node cannot use (e.g. a cursor it never handed out): answered as
    FastAPI answers a query parameter that fails validation (422, a `detail` list)."""

    def __init__(self, parameter: str, detail: str, rule: str) -> None:
        InvalidInput.__init__(self, [input_error(rule, ("query", parameter), detail)], rule)


class AccessRefused(NodeError, Refusal):
    """A request the node turns away before looking at what it asks: who sends it, from where,
    in what form."""

    def __init__(self, detail: str, rule: str) -> None:
        Refusal.__init__(self, detail, rule)


class NotAuthenticated(AccessRefused):
    """No operator token, or one the node does not know (401)."""


class RoleTooSmall(AccessRefused):
    """The operator's role does not allow the action (403)."""


class NotJson(AccessRefused):
    """A body sent as anything but application/json (415): a form or text/plain body is what
    a web page can send cross-site without asking."""


class HostNotAllowed(AccessRefused):
    """A Host the node does not answer to (421): a name of another site rebound to this node."""


class ManifestFromOperator(RecordRefused, InvalidInput):
    """A manifest is what the node sends the centre (heavy packets); an operator records the
    attachments themselves (422, as a body that fails validation)."""

    def __init__(self) -> None:
        rule = "manifest_not_accepted"
        detail = (
            "biometrics.manifest is for the node's link to the centre; record the attachments "
            "inline (biometrics.attachments, base64)"
        )
        InvalidInput.__init__(
            self, [input_error(rule, ("body", "biometrics", "manifest"), detail)], rule
        )


class CentreExchangeError(NodeError):
    """An exchange with the centre did not succeed; retry later (unless a subclass says so)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class CentreUnreachable(CentreExchangeError):
    """No HTTP answer at all: refused, reset, timed out, name not resolved."""


class CentreStatusError(CentreExchangeError):
    """The centre answered with a status other than success."""

    def __init__(self, message: str, status_code: int, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after)
        self.status_code = status_code
        #: the centre's own words and rule (its error body, or the Ektp-Rule header of an
        #: answer without a body), when it gave any
        self.detail: str | None = None
        self.rule: str | None = None


class CentreBusy(CentreStatusError):
    """503 or 429: the centre sheds load and usually says when to come back (Retry-After)."""


class CentreAuthRefused(CentreStatusError):
    """401/403: the office's API key is wrong; retried, but an operator must fix it."""


class BatchTooLarge(CentreStatusError):
    """413: split the batch; a single item refused this way is refused for good."""


class CentreProtocolError(CentreExchangeError):
    """The centre answered 2xx with a body that does not follow the contract."""
