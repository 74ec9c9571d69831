"""Where a user switching from Toxiproxy would otherwise be surprised (beyond api_test.go).

Each case is Toxiproxy behaviour read from its source (github.com/Shopify/toxiproxy: api.go at
f6b98cf41e8bb99978ded7dc884f937e9872ca4c for error bodies, metrics_test.go at
80f9da5cfa808f6617246dae37c33774408fa818 for /metrics, stream.ParseDirection for the stream
case, Proxy.Differs for the listen comparison, proxy.go for accept-before-dial).
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from ektp_sync.launch import free_port
from ektp_sync.netsim import NetSim

from .conftest import DEADLINE, connect, roundtrip


@pytest.fixture
async def http(sim: NetSim) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.api_url, timeout=10.0) as client:
        yield client


async def test_stream_name_is_case_insensitive(http: httpx.AsyncClient, echo: str) -> None:
    await http.post("/proxies", json={"name": "p", "upstream": echo})
    made = await http.post("/proxies/p/toxics", json={"type": "latency", "stream": "UPSTREAM"})
    assert made.status_code == 200
    assert made.json()["stream"] == "upstream" and made.json()["name"] == "latency_upstream"


async def test_update_naming_the_same_address_keeps_connections(
    http: httpx.AsyncClient, echo: str
) -> None:
    port = free_port()
    await http.post("/proxies", json={"name": "p", "listen": f"127.0.0.1:{port}", "upstream": echo})
    reader, writer = await connect(f"127.0.0.1:{port}")
    update = {"listen": f"localhost:{port}", "upstream": echo, "enabled": True}
    answer = await http.patch("/proxies/p", json=update)
    assert answer.status_code == 200 and answer.json()["listen"] == f"127.0.0.1:{port}"
    writer.write(b"still here")
    assert await asyncio.wait_for(reader.readexactly(10), DEADLINE) == b"still here"
    writer.close()


async def test_errors_are_plain_text_json(http: httpx.AsyncClient) -> None:
    # api.go's apiError ends in Go's http.Error: JSON text, a newline, text/plain.
    response = await http.get("/proxies/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.text == '{"error": "proxy not found", "status": 404}\n'


async def test_chunked_request_body(http: httpx.AsyncClient, echo: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "p", '
        yield f'"upstream": "{echo}"}}'.encode()

    response = await http.post("/proxies", content=chunks())
    assert response.status_code == 201, response.text
    assert response.json()["upstream"] == echo


async def test_metrics_count_bytes_per_direction(
    sim: NetSim, http: httpx.AsyncClient, echo: str
) -> None:
    # metrics_test.go TestProxyMetricsReceivedSentBytes: 5 bytes in, 5 bytes out, upstream.
    proxy = await sim.add_proxy("p", "127.0.0.1:0", echo)
    assert await roundtrip(proxy.listen, b"hello") == b"hello"
    response = await http.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    labels = f'direction="upstream",listener="{proxy.listen}",proxy="p",upstream="{echo}"'
    lines = response.text.splitlines()
    assert f"toxiproxy_proxy_received_bytes_total{{{labels}}} 5.0" in lines
    assert f"toxiproxy_proxy_sent_bytes_total{{{labels}}} 5.0" in lines
    down = labels.replace("upstream", "downstream", 1)
    assert f"toxiproxy_proxy_sent_bytes_total{{{down}}} 5.0" in lines


def connect_result(address: str, looks_after: float) -> int:
    """errno a non-blocking connect() reports when the client looks `looks_after` s later."""
    host, _, port = address.rpartition(":")
    with socket.socket() as sock:
        sock.setblocking(False)
        sock.connect_ex((host, int(port)))
        time.sleep(looks_after)  # the client is busy elsewhere, as any event loop may be
        select.select([], [sock], [], DEADLINE)
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)


async def test_listening_check_passes_while_upstream_is_down(sim: NetSim) -> None:
    # Toxiproxy accepts before it dials the upstream, so "is the proxy listening?" right after
    # creating it holds even when the upstream is not up yet. A reset sent at once reached the
    # client before it read its connect() result, and connect() failed with ECONNRESET.
    proxy = await sim.add_proxy("p", "127.0.0.1:0", f"127.0.0.1:{free_port()}")
    for _ in range(3):
        assert await asyncio.to_thread(connect_result, proxy.listen, 0.1) == 0


async def test_unreachable_upstream_resets_a_client_that_sends(sim: NetSim) -> None:
    proxy = await sim.add_proxy("p", "127.0.0.1:0", f"127.0.0.1:{free_port()}")
    reader, writer = await connect(proxy.listen)
    writer.write(b"GET / HTTP/1.1\r\n\r\n")
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(), DEADLINE)
    writer.close()


async def test_populate_answers_error_with_proxies_key(http: httpx.AsyncClient) -> None:
    response = await http.post("/populate", json=[{"name": "x"}])
    assert response.status_code == 400
    assert json.loads(response.text) == {
        "error": "missing required field: upstream at proxy 1",
        "status": 400,
        "proxies": [],
    }
