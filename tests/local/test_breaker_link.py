"""The circuit breaker against a real socket: a dead centre is probed, not hammered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ektp_sync.config import LocalSettings
from ektp_sync.testing import eventually
from local_server.app import create_app

from .conftest import running
from .residents import resident

Settings = Callable[..., LocalSettings]


async def test_an_open_breaker_stops_the_traffic_and_status_says_so(
    settings_for: Settings,
) -> None:
    connections = 0

    async def hang_up(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()  # a centre that accepts and drops every exchange

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = settings_for(f"http://127.0.0.1:{port}", breaker_probe_seconds=3600.0)
    app = create_app(settings)
    try:
        async with running(app) as node:
            for serial in range(20):
                assert (await node.post("/records", json=resident(300 + serial))).status_code == 201

            async def opened() -> dict[str, Any] | None:
                central: dict[str, Any] = (await node.get("/status")).json()["central"]
                done = central["breaker"] == "open" and central["in_flight_batches"] == 0
                return central if done else None

            central = await eventually(opened, timeout=20, interval=0.02)
            assert central["next_probe_in_seconds"] > 3000
            assert "centre" in central["last_error"]
            seen = connections
            breaker = app.state.worker.breaker
            looks = 0
            admit = breaker.admit

            def counted() -> bool:
                nonlocal looks
                looks += 1
                return bool(admit())

            breaker.admit = counted
            # recording while the circuit is open wakes the pusher: it must not spin on it
            assert (await node.post("/records", json=resident(399))).status_code == 201
            # an observation window, not a wait for a condition: nothing may happen in it
            await asyncio.sleep(1.0)
            assert connections == seen
            # each loop looks about once per idle poll (0.1 s); a busy loop looked thousands
            # of times, starving the node's own API for the whole outage
            assert looks < 100, looks
            assert seen <= settings.breaker_threshold + settings.max_in_flight + 2
            pending = (await node.get("/uploads/pending", params={"limit": 100})).json()
            assert len(pending["uploads"]) == 21
            assert {p["state"] for p in pending["uploads"]} == {"queued"}
            assert all("circuit open" in p["held_back"] for p in pending["uploads"])
    finally:
        server.close()
        await server.wait_closed()
