"""Maps the centre's errors onto HTTP answers (ErrorBody), in one place for the whole app."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from central_server.errors import CentralError
from ektp_sync.wire import ATTACHMENTS_TOO_LARGE, ErrorBody

logger = logging.getLogger(__name__)


async def _central_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CentralError)
    body = ErrorBody(detail=exc.detail, rule=exc.rule)
    return JSONResponse(body.model_dump(), status_code=exc.status_code, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    for error in exc.errors():
        if error.get("type") == ATTACHMENTS_TOO_LARGE:
            body = ErrorBody(detail=str(error.get("msg")), rule="attachments_size")
            return JSONResponse(body.model_dump(), status_code=413)
    return await request_validation_exception_handler(request, exc)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # a bug, not a client error: keep the traceback in the log, tell the client nothing more
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    body = ErrorBody(detail="internal error at the centre; it has been logged", rule="internal")
    return JSONResponse(body.model_dump(), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CentralError, _central_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
