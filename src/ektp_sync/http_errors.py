"""The HTTP answer both servers give to their errors: one `ErrorBody` shape (`detail`, `rule`).

Each server keeps its own error classes (their names and statuses are its business); this module
turns any of them into the same JSON, adds the 413 for oversize attachments, and keeps tracebacks
of bugs in the log instead of the response.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from ektp_sync.wire import ATTACHMENTS_TOO_LARGE, ErrorBody

logger = logging.getLogger(__name__)

#: a failing value longer than this is not echoed back in a 422
MAX_ECHOED_INPUT = 200


@runtime_checkable
class RuleError(Protocol):
    """What an error needs to be answered as ErrorBody: status, sentence, stable rule key."""

    status_code: int
    detail: str
    rule: str | None

    @property
    def headers(self) -> Mapping[str, str]: ...


class HttpError(Exception):
    """An expected refusal: `detail` is a sentence for people, `rule` a stable key for scripts."""

    status_code = 400
    default_rule: str | None = None

    def __init__(self, detail: str, rule: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.rule = rule if rule is not None else self.default_rule

    @property
    def headers(self) -> Mapping[str, str]:
        return {}


def error_response(
    status_code: int, detail: str, rule: str | None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(detail=detail, rule=rule)
    return JSONResponse(body.model_dump(), status_code=status_code, headers=headers)


async def _rule_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RuleError)
    return error_response(exc.status_code, exc.detail, exc.rule, exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    for error in exc.errors():
        # too much data is a size problem (413), not a malformed request (422)
        if error.get("type") == ATTACHMENTS_TOO_LARGE:
            return error_response(413, str(error.get("msg")), "attachments_size")
    errors = [_without_bulky_input(e) for e in exc.errors()]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


def _without_bulky_input(error: Any) -> Any:
    """FastAPI echoes each failing value as `input`; for a record-level rule that is the whole
    record (name, NIK, template, megabytes of attachments) — keep only short scalars."""
    value = error.get("input") if isinstance(error, dict) else None
    bulky = isinstance(value, (dict, list)) or (
        isinstance(value, (str, bytes)) and len(value) > MAX_ECHOED_INPUT
    )
    return {k: v for k, v in error.items() if k != "input"} if bulky else error


def install_error_handlers(
    app: FastAPI, *error_types: type[Exception], internal_detail: str
) -> None:
    """Answer `HttpError` and each of `error_types` (which must fit `RuleError`) as ErrorBody.

    Anything else is a bug: logged with its traceback, answered 500 with `internal_detail`.
    """

    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, internal_detail, "internal")

    handled: tuple[type[Exception], ...] = (HttpError, *error_types)
    for error_type in handled:
        app.add_exception_handler(error_type, _rule_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, unexpected)
