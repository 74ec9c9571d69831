"""The centre's error hierarchy: each error knows its HTTP status and answers as ErrorBody."""

from __future__ import annotations

from collections.abc import Mapping

from ektp_sync.http_errors import HttpError


class CentralError(HttpError):
    """Base of every error the centre answers on purpose; `rule` is a stable key for clients."""

    status_code = 500


class Unauthorised(CentralError):
    status_code = 401
    default_rule = "auth"

    @property
    def headers(self) -> Mapping[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(CentralError):
    status_code = 403
    default_rule = "admin_only"


class NotFound(CentralError):
    status_code = 404
    default_rule = "not_found"


class Conflict(CentralError):
    status_code = 409
    default_rule = "conflict"


class PayloadTooLarge(CentralError):
    status_code = 413
    default_rule = "body_size"


class InvalidRequest(CentralError):
    status_code = 422
    default_rule = "invalid"


class Unavailable(CentralError):
    """Load shedding or an injected fault: the client should come back after `retry_after`."""

    status_code = 503
    default_rule = "unavailable"

    def __init__(self, detail: str, retry_after: int = 1, rule: str | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(detail, rule)

    @property
    def headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(self.retry_after)}


class UnsupportedEncoding(CentralError):
    status_code = 415
    default_rule = "content_encoding"
