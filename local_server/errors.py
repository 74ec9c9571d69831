"""The local node's errors and their HTTP answers (ErrorBody), in one place for the app."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from ektp_sync.wire import ATTACHMENTS_TOO_LARGE, ErrorBody

logger = logging.getLogger(__name__)


class NodeError(Exception):
    """An expected refusal: `detail` is a sentence, `rule` a stable key for scripts."""

    status_code = 400

    def __init__(self, detail: str, rule: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.rule = rule


class RecordNotFound(NodeError):
    status_code = 404

    def __init__(self, record_id: str) -> None:
        super().__init__(f"no record with id {record_id!r} on this node", "record_not_found")


class Conflict(NodeError):
    """The record's state does not allow what was asked (409)."""

    status_code = 409


class PayloadTooLarge(NodeError):
    status_code = 413


class InvalidQuery(NodeError):
    status_code = 422


async def _node_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NodeError)
    body = ErrorBody(detail=exc.detail, rule=exc.rule)
    return JSONResponse(body.model_dump(), status_code=exc.status_code)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    for error in exc.errors():
        if error.get("type") == ATTACHMENTS_TOO_LARGE:
            body = ErrorBody(detail=str(error.get("msg")), rule="attachments_size")
            return JSONResponse(body.model_dump(), status_code=413)
    return await request_validation_exception_handler(request, exc)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # a bug, not a client error: the traceback goes to the log, the client gets a sentence
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    body = ErrorBody(
        detail="internal error on the office node; it has been logged", rule="internal"
    )
    return JSONResponse(body.model_dump(), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NodeError, _node_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
