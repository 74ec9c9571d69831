"""The local node's errors; their HTTP answers (ErrorBody) come from `ektp_sync.http_errors`."""

from __future__ import annotations

from fastapi import FastAPI

from ektp_sync.http_errors import HttpError
from ektp_sync.http_errors import install_error_handlers as install_shared_handlers


class NodeError(HttpError):
    """An expected refusal: `detail` is a sentence, `rule` a stable key for scripts."""

    status_code = 400


class RecordNotFound(NodeError):
    status_code = 404

    def __init__(self, record_id: str) -> None:
        super().__init__(f"no record with id {record_id!r} on this node", "record_not_found")


class Conflict(NodeError):
    """The record's state does not allow what was asked (409)."""

    status_code = 409


class InvalidQuery(NodeError):
    status_code = 422


def install_error_handlers(app: FastAPI) -> None:
    install_shared_handlers(
        app, internal_detail="internal error on the office node; it has been logged"
    )
