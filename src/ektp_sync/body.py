"""Reading request bodies, for both servers: size caps, gzip, JSON, and the body's validation.

Routes that must refuse a huge body before buffering it read the stream themselves, here: the
raw size is capped first, then (for gzip) the decompressed size, so a small gzip bomb cannot
expand into gigabytes. What goes wrong is a `Refusal` named for it; the HTTP edge answers an
`InvalidBody` exactly as FastAPI answers a body it validated itself (422 with a `detail` list).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from ektp_sync.refusals import Refusal

MiB = 1024 * 1024


@dataclass(frozen=True)
class BodyLimits:
    raw_bytes: int = 256 * MiB
    decoded_bytes: int = 256 * MiB


class BodyRefusal(Refusal):
    """The request's body cannot be taken as it is."""


class BodyTooLarge(BodyRefusal):
    """Over a size cap: the raw body (`body_size`) or its decompressed form."""

    default_rule = "body_size"


class ClientGone(BodyRefusal):
    """The caller hung up before its body arrived (routine on a flaky link): nothing stored,
    nobody left to answer — not an error of ours to log with a traceback."""

    default_rule = "client_disconnected"


class UnsupportedEncoding(BodyRefusal):
    default_rule = "content_encoding"


class CorruptGzip(BodyRefusal):
    """Declared gzip, but not valid or truncated gzip."""

    default_rule = "content_encoding"


class InvalidBody(BodyRefusal):
    """The body is not JSON, or not the JSON asked for: `errors` in pydantic's shape, each `loc`
    starting with "body", as FastAPI reports a body it validated itself."""

    default_rule = "invalid"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("the request body is invalid")
        self.errors = errors


async def read_limited(request: Request, limit: int) -> bytes:
    """The raw body, refused with BodyTooLarge as soon as it is known to exceed `limit` bytes."""
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


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress with a cap, so a small gzip bomb cannot expand into gigabytes."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise CorruptGzip(f"body is not valid gzip: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise BodyTooLarge(f"decompressed body exceeds {limit} bytes", "decoded_body_size")
    if not inflater.eof:
        raise CorruptGzip("gzip body is truncated")
    return out


def parse_json(raw: bytes) -> Any:
    """JSON of the body, or the refusal FastAPI gives for a body it could not parse itself."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidBody(
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


async def read_json(request: Request, limits: BodyLimits) -> Any:
    """The body as JSON: raw size cap, then gzip (if sent so) under the decoded cap."""
    raw = await read_limited(request, limits.raw_bytes)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        raw = gunzip(raw, limits.decoded_bytes)
    elif encoding not in ("", "identity"):
        raise UnsupportedEncoding(f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    return parse_json(raw)


def body_validation_error(exc: ValidationError) -> InvalidBody:
    """A model's validation errors as a refusal of the request body (each loc starts "body")."""
    errors = exc.errors(include_url=False)
    return InvalidBody([{**e, "loc": ("body", *e["loc"])} for e in errors])
