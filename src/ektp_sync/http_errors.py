"""The HTTP edge of both servers' refusals: one status table per server, one answer shape.

A server hands `install_error_handlers` its table (refusal class → status); a refusal is answered
with the status of the nearest class in the table, as `ErrorBody` (`detail`, `rule`). A 401 adds
`WWW-Authenticate`, a refusal with `retry_after` adds `Retry-After`, a refusal of a HEAD
request carries its rule in `Ektp-Rule`. Bodies that fail validation
(FastAPI's own `RequestValidationError`, and every `InvalidInput`: a hand-read body, a cursor)
are answered as FastAPI answers them (422, a `detail` list, with `rule` beside it), except that
too much data is a 413. Anything else is a bug:
its traceback goes to the log, not into the response.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ektp_sync.body import (
    BodyTooLarge,
    ClientGone,
    CorruptGzip,
    UnsupportedEncoding,
)
from ektp_sync.refusals import InvalidInput, Refusal
from ektp_sync.wire import ATTACHMENTS_TOO_LARGE, ErrorBody

logger = logging.getLogger(__name__)

Statuses = Mapping[type[Refusal], int]

#: the refusal's rule on an answer to HEAD, which has no body (tus clients ask HEAD for offsets)
RULE_HEADER = "Ektp-Rule"

#: a failing value longer than this is not echoed back in a 422
MAX_ECHOED_INPUT = 200

#: the statuses of what both servers refuse: the base, and reading a body
SHARED_STATUSES: Statuses = {
    Refusal: 400,
    ClientGone: 400,
    BodyTooLarge: 413,
    UnsupportedEncoding: 415,
    CorruptGzip: 422,
}


def status_of(refusal: Refusal, statuses: Statuses) -> int:
    """The status of the nearest class of `refusal` in `statuses` (Refusal itself is 400)."""
    for cls in type(refusal).__mro__:
        if cls in statuses:
            return statuses[cls]
    return 400


def error_response(
    status_code: int, detail: str, rule: str | None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(detail=detail, rule=rule)
    return JSONResponse(body.model_dump(), status_code=status_code, headers=headers)


def _validation_answer(errors: Sequence[Any], rule: str = "invalid") -> Response:
    """422 with FastAPI's `detail` list, and `rule` beside it as in every other refusal."""
    for error in errors:
        # too much data is a size problem (413), not a malformed request (422)
        if error.get("type") == ATTACHMENTS_TOO_LARGE:
            return error_response(413, str(error.get("msg")), "attachments_size")
    shown = [_without_bulky_input(e) for e in errors]
    return JSONResponse({"detail": jsonable_encoder(shown), "rule": rule}, status_code=422)


def _without_bulky_input(error: Any) -> Any:
    """FastAPI echoes each failing value as `input`; for a record-level rule that is the whole
    record (name, NIK, template, megabytes of attachments) — keep only short scalars."""
    value = error.get("input") if isinstance(error, dict) else None
    bulky = isinstance(value, (dict, list)) or (
        isinstance(value, (str, bytes)) and len(value) > MAX_ECHOED_INPUT
    )
    return {k: v for k, v in error.items() if k != "input"} if bulky else error


def allowed_methods(request: Request) -> list[str]:
    """Every method the API documents at this path: Starlette answers 405 with the methods of
    the first route whose path matches, not all of them (GET and POST /records are two)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:  # PARTIAL: the path matched, the method did not
            methods |= getattr(route, "methods", None) or set()
    methods.discard("HEAD")  # added by Starlette to every GET, not a documented operation
    return sorted(methods)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (404 no route, 405) in our shape; a 405 lists every method."""
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    rule = {404: "not_found", 405: "method"}.get(exc.status_code)
    return error_response(exc.status_code, str(exc.detail), rule, headers)


async def _request_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return _validation_answer(exc.errors())


def install_error_handlers(app: FastAPI, statuses: Statuses, *, internal_detail: str) -> None:
    """Answer every `Refusal` by `statuses` (over SHARED_STATUSES) as ErrorBody.

    Anything else is a bug: logged with its traceback, answered 500 with `internal_detail`.
    """
    table: dict[type[Refusal], int] = {**SHARED_STATUSES, **statuses}

    async def refusal(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refusal)
        if isinstance(exc, InvalidInput):
            return _validation_answer(exc.errors, exc.rule or "invalid")
        status = status_of(exc, table)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        if request.method == "HEAD" and exc.rule is not None:
            headers[RULE_HEADER] = exc.rule  # an answer to HEAD has no body to carry it
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
        return error_response(status, exc.detail, exc.rule, headers)

    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, internal_detail, "internal")

    app.add_exception_handler(Refusal, refusal)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, unexpected)
