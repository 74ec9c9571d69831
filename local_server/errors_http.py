"""The office node's errors as HTTP answers, in one place for the whole app (the edge).

A refusal is answered as ErrorBody (`detail`, `rule`) with the status below; a correction that
breaks a record's rules exactly as a request body that fails validation (FastAPI's 422).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from ektp_sync.body_limits import body_validation_error
from ektp_sync.http_errors import error_response
from ektp_sync.http_errors import install_error_handlers as install_shared_handlers
from local_server.errors import (
    InvalidCorrection,
    InvalidQuery,
    RecordConflict,
    RecordNotFound,
    RecordRefused,
)

#: the status of each kind of refusal (the most specific class listed wins)
STATUS: dict[type[RecordRefused], int] = {
    RecordNotFound: 404,
    RecordConflict: 409,
    InvalidQuery: 422,
}


def status_of(error: RecordRefused) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


async def _refused(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RecordRefused)
    return error_response(status_of(exc), exc.detail, exc.rule)


async def _invalid_correction(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidCorrection)
    # the same handler, so the same bytes, as a new recording that breaks the same rule
    answer = request.app.exception_handlers[RequestValidationError]
    response: Response = await answer(request, body_validation_error(exc.error))
    return response


def install_error_handlers(app: FastAPI) -> None:
    install_shared_handlers(
        app, internal_detail="internal error on the office node; it has been logged"
    )
    app.add_exception_handler(RecordRefused, _refused)
    app.add_exception_handler(InvalidCorrection, _invalid_correction)
