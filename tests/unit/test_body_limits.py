"""Reading request bodies by hand: the size cap, and a caller that hangs up mid-body."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import Request

from ektp_sync.body import BodyTooLarge, ClientGone, read_limited

Message = dict[str, Any]


def request_of(messages: list[Message]) -> Request:
    """A request whose body arrives as `messages` (ASGI receive events), in order."""
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    return Request(scope, receive)


def chunk(data: bytes, more: bool = True) -> Message:
    return {"type": "http.request", "body": data, "more_body": more}


async def test_the_body_is_read_whole_within_the_limit() -> None:
    body = await read_limited(request_of([chunk(b"ab"), chunk(b"cd", more=False)]), 10)
    assert body == b"abcd"


async def test_a_body_over_the_limit_is_refused_before_it_is_all_read() -> None:
    with pytest.raises(BodyTooLarge):
        await read_limited(request_of([chunk(b"x" * 8), chunk(b"y" * 8)]), 10)


async def test_a_caller_hanging_up_mid_body_is_a_clear_refusal_not_a_crash() -> None:
    with pytest.raises(ClientGone) as caught:
        await read_limited(request_of([chunk(b"abc"), {"type": "http.disconnect"}]), 10)
    assert caught.value.rule == "client_disconnected"
    assert "3 bytes" in caught.value.detail
