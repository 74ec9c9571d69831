"""The JSON guard and the streamed body reading: limits refused as the bytes arrive, gzip
inflated a step at a time, and only a body within every limit parsed."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import pytest
from fastapi import Request

from ektp_sync.body import BodyLimits, BodyTooLarge, InvalidBody, parse_json, read_json
from ektp_sync.jsonguard import JsonGuard, JsonRefused

Message = dict[str, Any]


def streamed(
    chunks: list[bytes], headers: dict[str, str] | None = None
) -> tuple[Request, list[int]]:
    """A request whose body arrives in `chunks`; the list counts the chunks handed out."""
    taken = [0]
    queue = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive() -> Message:
        taken[0] += 1
        return queue.pop(0)

    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "method": "POST", "path": "/", "headers": raw}
    return Request(scope, receive), taken


def refused(raw: bytes, limits: BodyLimits | None = None) -> InvalidBody:
    with pytest.raises(InvalidBody) as caught:
        parse_json(raw, limits)
    return caught.value


def test_a_body_within_the_limits_parses_as_json_does() -> None:
    doc = {"items": [{"a": [1, 2.5, None, True, "x\u00e9\U0001f600"]}], "b": {}}
    assert parse_json(json.dumps(doc).encode()) == doc


def test_depth_is_refused_at_the_first_level_too_deep() -> None:
    assert refused(b"[" * 1000 + b"]" * 1000).rule == "json_depth"
    assert refused(b"[" * 33 + b"]" * 33).rule == "json_depth"
    assert parse_json(b"[" * 32 + b"]" * 32) is not None


def test_arrays_longer_than_the_limit_are_refused_once_the_body_is_not_trusted() -> None:
    limits = BodyLimits(max_array_items=3)
    # few containers: parsed as it is (the models bound their own lists)
    assert parse_json(b"[1, 2, 3, 4]", limits) == [1, 2, 3, 4]
    # as many containers as a full batch: the guard counts every array
    error = refused(b"[" + b"{}, " * 30 + b"{}]", limits)
    assert error.rule == "json_items"
    assert error.errors[0]["type"] == "json_too_many_items"


def test_broken_json_is_refused_without_quoting_the_body() -> None:
    for raw in (b'{"nik": "6172010506900001"', b"{} {}", b"\xff", b"", b"NaN", b"[1e400]"):
        error = refused(raw)
        assert error.rule == "json_invalid"
        assert "6172" not in json.dumps(error.errors), error.errors


def test_a_lone_surrogate_is_refused_a_pair_is_text() -> None:
    assert refused(b'{"a": "\\ud800"}').rule == "string_surrogate"
    assert parse_json(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}


def test_the_guard_holds_nothing_but_the_open_containers() -> None:
    guard = JsonGuard(max_depth=4, max_array_items=2)
    guard.feed(b'[{"a": ')  # a chunk boundary anywhere
    guard.feed(b"[1, 2]}, ")
    with pytest.raises(JsonRefused) as caught:
        guard.feed(b"3, 4]")
    assert caught.value.rule == "json_items"


async def test_a_gzip_bomb_of_items_stops_being_read_at_the_first_step_over() -> None:
    item = b'{"submission_id": "x"}, '
    inflated = b'{"items": [' + item * (8 * 1024 * 1024 // len(item)) + b"1]}"
    packed = gzip.compress(inflated, 9)
    chunks = [packed[i : i + 1024] for i in range(0, len(packed), 1024)]
    request, taken = streamed(chunks, {"content-encoding": "gzip"})
    with pytest.raises(InvalidBody) as caught:
        await read_json(request, BodyLimits())
    assert caught.value.rule == "json_items"
    assert taken[0] < len(chunks) / 2, f"{taken[0]} of {len(chunks)} chunks read"


async def test_the_decompressed_cap_holds_for_a_single_huge_string() -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    packed = packer.compress(b'{"a": "' + b"x" * (4 * 1024 * 1024)) + packer.flush()
    request, _ = streamed([packed], {"content-encoding": "gzip"})
    with pytest.raises(BodyTooLarge) as caught:
        await read_json(request, BodyLimits(decoded_bytes=1024 * 1024))
    assert caught.value.rule == "decoded_body_size"


async def test_a_streamed_body_in_pieces_parses_whole() -> None:
    doc = {"items": [{"n": n} for n in range(100)]}
    raw = gzip.compress(json.dumps(doc).encode())
    request, _ = streamed([raw[:10], raw[10:50], raw[50:]], {"content-encoding": "gzip"})
    assert await read_json(request, BodyLimits()) == doc
