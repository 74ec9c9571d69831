"""Reading a request body with hard limits: raw size first, then gzip-decompressed size."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError

from central_server.errors import InvalidRequest, PayloadTooLarge, UnsupportedEncoding

MiB = 1024 * 1024


@dataclass(frozen=True)
class BodyLimits:
    raw_bytes: int = 256 * MiB
    decoded_bytes: int = 256 * MiB


async def read_raw(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body of {declared} bytes exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            # stop reading now: a lying or absent Content-Length must not make us buffer it all
            raise PayloadTooLarge(f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress with a cap, so a small gzip bomb cannot expand into gigabytes."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise InvalidRequest(f"body is not valid gzip: {exc}", "content_encoding") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body exceeds {limit} bytes", "decoded_body_size")
    if not inflater.eof:
        raise InvalidRequest("gzip body is truncated", "content_encoding")
    return out


async def read_json(request: Request, limits: BodyLimits) -> Any:
    raw = await read_raw(request, limits.raw_bytes)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        raw = gunzip(raw, limits.decoded_bytes)
    elif encoding not in ("", "identity"):
        raise UnsupportedEncoding(f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        # the same shape FastAPI gives for a body it could not parse itself
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
