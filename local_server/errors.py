"""The local node's errors; their HTTP statuses are the table below, their answers (ErrorBody)
come from `ektp_sync.http_errors`."""

from __future__ import annotations

from fastapi import FastAPI

from ektp_sync.http_errors import Statuses
from ektp_sync.http_errors import install_error_handlers as install_shared_handlers
from ektp_sync.refusals import Refusal


class NodeError(Refusal):
    """An expected refusal: `detail` is a sentence, `rule` a stable key for scripts."""


class RecordNotFound(NodeError):
    def __init__(self, record_id: str) -> None:
        super().__init__(f"no record with id {record_id!r} on this node", "record_not_found")


class Conflict(NodeError):
    """The record's state does not allow what was asked (409)."""


class InvalidQuery(NodeError):
    pass


STATUSES: Statuses = {NodeError: 400, RecordNotFound: 404, Conflict: 409, InvalidQuery: 422}


def install_error_handlers(app: FastAPI) -> None:
    install_shared_handlers(
        app, STATUSES, internal_detail="internal error on the office node; it has been logged"
    )
