"""Reading request bodies by hand, for both servers: a hard size cap first, then JSON parsing.

Routes that must refuse a huge body before buffering it read the stream themselves; what they
raise then looks exactly like what FastAPI would have answered (422 `detail` list, 413 ErrorBody).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from ektp_sync.http_errors import HttpError


class BodyTooLarge(HttpError):
    status_code = 413
    default_rule = "body_size"


class ClientGone(HttpError):
    """The caller hung up before its body arrived (routine on a flaky link): nothing stored,
    nobody left to answer — not an error of ours to log with a traceback."""

    status_code = 400
    default_rule = "client_disconnected"


async def read_limited(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"request body of {declared} bytes exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                # stop now: an absent or lying Content-Length must not make us buffer it all
                raise BodyTooLarge(f"request body exceeds {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientGone(f"the caller hung up after {size} bytes of its request body") from None
    return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    """JSON of the body, or the same 422 FastAPI gives for a body it could not parse itself."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", getattr(exc, "pos", 0)),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": str(exc)[:200]},
                }
            ]
        ) from None


def body_validation_error(exc: ValidationError) -> RequestValidationError:
    """A model's validation errors as FastAPI's 422 for the request body (loc starts "body")."""
    errors = exc.errors(include_url=False)
    return RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors])
