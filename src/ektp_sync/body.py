"""Reading request bodies, for both servers: size caps, gzip, JSON, and the body's validation.

Both servers read their JSON bodies themselves, here, as a stream: the raw size is capped
first, then (for gzip, inflated a step at a time) the decompressed size, while a `JsonGuard`
checks nesting depth and array lengths on the bytes as they come. The first limit crossed ends
the reading, so a small gzip bomb costs what was inflated until then, not gigabytes. Only a
body within every limit is parsed (and then checked for lone surrogates). What goes wrong is a
`Refusal` named for it; the HTTP edge answers an `InvalidBody` exactly as FastAPI answers a
body it validated itself (422 with a `detail` list).
"""

from __future__ import annotations

import asyncio
import json
import math
import zlib
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from ektp_sync.jsonguard import (
    MAX_ARRAY_ITEMS,
    MAX_DEPTH,
    JsonGuard,
    JsonRefused,
    containers,
    deeper_than,
    lone_surrogate,
    may_hold_surrogates,
)
from ektp_sync.refusals import InvalidInput, Refusal, input_error

MiB = 1024 * 1024

#: gzip is inflated at most this much at a time, each step checked before the next
INFLATE_STEP = 256 * 1024


@dataclass(frozen=True)
class BodyLimits:
    raw_bytes: int = 32 * MiB
    #: the JSON after gzip; the node's uploads are 4 MiB by default (`--batch-bytes`)
    decoded_bytes: int = 32 * MiB
    max_depth: int = MAX_DEPTH
    max_array_items: int = MAX_ARRAY_ITEMS


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


class InvalidBody(InvalidInput, BodyRefusal):
    """The body is not JSON, or not the JSON asked for: `errors` in pydantic's shape, each `loc`
    starting with "body", as FastAPI reports a body it validated itself."""


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


def parse_json(raw: bytes, limits: BodyLimits | None = None) -> Any:
    """JSON of a body read whole, or the refusal FastAPI gives for a body it could not parse
    itself (the guard runs over it first if it holds too many containers to trust)."""
    limits = limits or BodyLimits()
    if containers(raw) > _trusted_containers(limits):
        guard = _guard(limits)
        _guarded(guard.feed, raw)
        _guarded(guard.close)
    return _parse(raw, limits)


async def read_json(request: Request, limits: BodyLimits) -> Any:
    """The body as JSON, read as a stream: raw size cap, then gzip (if sent so) inflated step
    by step under the decoded cap; reading stops at the first limit crossed.

    A body with as many containers as a full batch holds (counted in C, nearly free) is not
    trusted further: from there the guard checks every step before the next is read, so a bomb
    of tiny items is refused within a step. Bodies below that are parsed as they are (`_parse`
    then checks their depth): the guard's exactness costs ten times the parse."""
    inflater = _inflater(request.headers.get("content-encoding", "identity"))
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.raw_bytes:
        raise BodyTooLarge(f"request body of {declared} bytes exceeds {limits.raw_bytes} bytes")
    guard: JsonGuard | None = None
    parts: list[bytes] = []
    raw_size = decoded_size = seen = 0
    try:
        async for chunk in request.stream():
            raw_size += len(chunk)
            if raw_size > limits.raw_bytes:
                raise BodyTooLarge(f"request body exceeds {limits.raw_bytes} bytes")
            for data in _inflated(inflater, chunk):
                decoded_size += len(data)
                if decoded_size > limits.decoded_bytes:
                    raise BodyTooLarge(
                        f"decompressed body exceeds {limits.decoded_bytes} bytes",
                        "decoded_body_size",
                    )
                parts.append(data)
                seen += containers(data)
                if guard is None and seen > _trusted_containers(limits):
                    guard = _guard(limits)
                    for part in parts[:-1]:
                        _guarded(guard.feed, part)
                if guard is not None:
                    _guarded(guard.feed, data)
                if inflater is not None:
                    await asyncio.sleep(0)  # a bomb's inflating must not starve other requests
    except ClientDisconnect:
        raise ClientGone(f"the caller hung up after {raw_size} bytes of its request body") from None
    if inflater is not None and not inflater.eof:
        raise CorruptGzip("gzip body is truncated")
    if guard is not None:
        _guarded(guard.close)
    return _parse(b"".join(parts), limits)


def _trusted_containers(limits: BodyLimits) -> int:
    # a batch item is 4 objects; twice a full batch's worth leaves room for braces in text
    return limits.max_array_items * 8


def _guard(limits: BodyLimits) -> JsonGuard:
    return JsonGuard(limits.max_depth, limits.max_array_items)


def _inflater(encoding: str) -> Any:
    encoding = encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    if encoding not in ("", "identity"):
        raise UnsupportedEncoding(f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    return None


def _inflated(inflater: Any, chunk: bytes) -> Iterator[bytes]:
    """The chunk as it goes to the parser: itself, or its inflated bytes a step at a time."""
    if inflater is None:
        yield chunk
        return
    pending = chunk
    while pending and not inflater.eof:
        try:
            out = inflater.decompress(pending, INFLATE_STEP)
        except zlib.error as exc:
            raise CorruptGzip(f"body is not valid gzip: {exc}") from None
        pending = inflater.unconsumed_tail
        if out:
            yield out


def _guarded(step: Any, *args: Any) -> None:
    try:
        step(*args)
    except JsonRefused as exc:
        raise InvalidBody([input_error(exc.kind, ("body",), exc.msg)], exc.rule) from None


def _parse(raw: bytes, limits: BodyLimits) -> Any:
    try:
        value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:  # json's C scanner checks its depth: a clean refusal, not a crash
        raise _too_deep(limits) from None
    except (ValueError, UnicodeDecodeError) as exc:
        error = input_error("json_invalid", ("body", getattr(exc, "pos", 0)), "JSON decode error")
        raise InvalidBody([error], "json_invalid") from None
    if containers(raw) > limits.max_depth and deeper_than(value, limits.max_depth):
        raise _too_deep(limits)
    if may_hold_surrogates(raw) and lone_surrogate(value):
        error = input_error(
            "string_surrogate", ("body",), "a string holds a lone surrogate (not valid text)"
        )
        raise InvalidBody([error], "string_surrogate")
    return value


def _too_deep(limits: BodyLimits) -> InvalidBody:
    msg = f"JSON nested deeper than {limits.max_depth} levels"
    return InvalidBody([input_error("json_too_deep", ("body",), msg)], "json_depth")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError("number out of range")
    return number


def body_validation_error(exc: ValidationError) -> InvalidBody:
    """A model's validation errors as a refusal of the request body (each loc starts "body")."""
    errors = exc.errors(include_url=False)
    return InvalidBody([{**e, "loc": ("body", *e["loc"])} for e in errors], "invalid")


#: bodies FastAPI parses (small admin requests) are read up to this much
SMALL_BODY_BYTES = 64 * 1024


class GuardedJsonRoute(APIRoute):
    """A route whose JSON body FastAPI parses, read under a small cap and checked by the guard
    first: FastAPI's own reading has no cap, its parsing recurses (RecursionError at 1,000
    levels) and it answers any other failure with a bare 400; this refuses such a body as
    every hand-read one is (413, or a 422 with its rule)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            if request.method in ("POST", "PUT", "PATCH"):
                raw = await read_limited(request, SMALL_BODY_BYTES)
                # kept where Starlette keeps a body it read itself: FastAPI reads it from there
                request._body = raw
                if raw:
                    parse_json(raw)
            return await handle(request)

        return guarded
