"""A breaker probe that fails in an unexpected way must not hold the breaker half-open.

Found by the rain-fade test: on a connection reset right after connect, httpcore raised
`AttributeError: 'NoneType' object has no attribute 'getpeername'` in the puller's probe; the
breaker never heard of the outcome and refused everyone for good. Now the client counts any
failure of the exchange as the link's, and the loops report unexpected errors to the breaker.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ektp_sync.config import LocalSettings
from ektp_sync.testing import eventually
from local_server.store.decisions import Inbox
from local_server.sync.breaker import BreakerState, CircuitBreaker
from local_server.sync.client import CentreClient
from local_server.sync.health import LinkMonitor
from local_server.sync.link import CentreLink
from local_server.sync.policy import RetryPolicy
from local_server.sync.puller import Puller
from local_server.sync.trust import CentreTrust


class _Inbox:
    """Just enough of the inbox for the puller: no cursor yet, the key pins, pages apply."""

    async def get(self, key: str) -> str | None:
        return None

    async def set(self, key: str, value: str) -> None:
        pass

    async def pin_public_key(self, key_b64: str) -> str:
        return key_b64

    async def apply(self, decisions: Any, next_cursor: str, refused: Any = None) -> int:
        return 0


@contextlib.asynccontextmanager
async def pulling(
    tmp_path: Any,
    centre: Callable[[httpx.Request], httpx.Response],
    policy: RetryPolicy,
    *,
    link_was_failing: bool = False,
) -> AsyncIterator[tuple[CentreLink, CircuitBreaker]]:
    """A puller running against `centre` (a mock transport) through a breaker of threshold 1;
    `link_was_failing` opens the breaker first, so the puller's first request is a probe."""
    key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_b64 = base64.b64encode(key).decode()
    settings = LocalSettings(
        data_dir=tmp_path,
        central_url="https://centre.invalid",
        central_public_key=key_b64,
        decisions_poll_seconds=0.05,
    )

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/keys"):  # the pinned key, offered as it should be
            return httpx.Response(200, json={"algorithm": "Ed25519", "public_key": key_b64})
        return centre(request)

    client = CentreClient(settings, transport=httpx.MockTransport(answer))
    breaker = CircuitBreaker(threshold=1, probe_interval=0.05)
    if link_was_failing:
        breaker.failed()
    link = CentreLink(client, LinkMonitor(url=settings.central_url), policy, breaker)
    # duck-typed inbox: the puller and its trust use only these methods
    inbox = cast(Inbox, _Inbox())
    trust = CentreTrust(settings, inbox)
    await trust.load()
    puller = Puller(settings, inbox, link, trust)
    breaker.on_close(puller.wake)  # as the worker wires it
    task = asyncio.create_task(puller.run())
    try:
        yield link, breaker
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.aclose()


async def test_a_probe_failing_unexpectedly_does_not_stall_the_link(tmp_path: Any) -> None:
    calls = 0

    def centre(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:  # what httpcore raised on a connection reset right after connect
            raise AttributeError("'NoneType' object has no attribute 'getpeername'")
        return httpx.Response(200, json={"decisions": [], "next": "0"})

    policy = RetryPolicy(0.05, 0.1)
    async with pulling(tmp_path, centre, policy, link_was_failing=True) as (_, breaker):
        # the first request is a probe; the link works from the second request on: the
        # puller must get to send it
        await eventually(lambda: calls >= 2, timeout=5, message="a request after the failed probe")
        await eventually(lambda: breaker.state is BreakerState.CLOSED, timeout=5)


async def test_the_puller_asks_again_as_soon_as_the_link_is_back(tmp_path: Any) -> None:
    """Link faults are paced by the breaker, not by a backoff of the puller's own: a puller
    that backed off for minutes during an outage slept through the drain that followed."""
    link_up = False
    pulls = 0

    def centre(request: httpx.Request) -> httpx.Response:
        nonlocal pulls
        if not link_up:
            raise httpx.ConnectError("connection refused")
        pulls += 1
        return httpx.Response(200, json={"decisions": [], "next": "0"})

    # a backoff policy of hours: if the puller used it for link faults it would not come back
    async with pulling(tmp_path, centre, RetryPolicy(3600, 7200)) as (link, breaker):
        await eventually(lambda: link.health.consecutive_failures >= 5, timeout=10)
        link_up = True
        await eventually(lambda: pulls >= 1, timeout=10, message="a pull after the link came back")
        assert breaker.state is BreakerState.CLOSED


async def test_a_probing_puller_does_not_hold_the_circuit_in_a_long_poll(tmp_path: Any) -> None:
    """Held by the centre for the whole long poll, the probe would keep the circuit half-open
    (and the pusher waiting) for that long after the link came back."""
    waits: list[str | None] = []

    def centre(request: httpx.Request) -> httpx.Response:
        waits.append(request.url.params.get("wait"))
        return httpx.Response(200, json={"decisions": [], "next": "0"})

    policy = RetryPolicy(0.05, 0.1)
    async with pulling(tmp_path, centre, policy, link_was_failing=True) as (_, breaker):
        await eventually(lambda: len(waits) >= 2, timeout=5)
        assert breaker.state is BreakerState.CLOSED
    assert waits[0] is None  # the probe: answered at once
    assert waits[1] is not None and float(waits[1]) > 0  # then the long poll
