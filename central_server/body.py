"""Reading a request body with hard limits: raw size first, then gzip-decompressed size."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from central_server.errors import InvalidRequest, PayloadTooLarge, UnsupportedEncoding
from ektp_sync.body_limits import parse_json, read_limited

MiB = 1024 * 1024


@dataclass(frozen=True)
class BodyLimits:
    raw_bytes: int = 256 * MiB
    decoded_bytes: int = 256 * MiB


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
    raw = await read_limited(request, limits.raw_bytes)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        raw = gunzip(raw, limits.decoded_bytes)
    elif encoding not in ("", "identity"):
        raise UnsupportedEncoding(f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    return parse_json(raw)
