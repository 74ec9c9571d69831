"""What Toxiproxy's own Go tests lean on, in Python: its Go client's calls and error texts.

Toxiproxy's api_test.go drives the server through its Go client (client/client.go), whose
errors read "<Op>: HTTP <status>: <error field of the body>"; GoClient reproduces that, so the
ported tests compare upstream's expected strings verbatim. Each method names the Go call.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx

DEADLINE = 10.0


class GoClientError(Exception):
    """An API error as the Go client words it."""


class GoClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(self, op: str, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(method, path, json=body)
        if response.status_code >= 300:
            raise GoClientError(f"{op}: HTTP {response.status_code}: {response.json()['error']}")
        return response.json() if response.content else None

    async def proxies(self) -> dict[str, Any]:  # client.Proxies()
        result: dict[str, Any] = await self.call("Proxies", "GET", "/proxies")
        return result

    async def proxy(self, name: str) -> dict[str, Any]:  # client.Proxy(name)
        result: dict[str, Any] = await self.call("Proxy", "GET", f"/proxies/{name}")
        return result

    async def create_proxy(self, name: str, listen: str, upstream: str) -> dict[str, Any]:
        # client.CreateProxy(name, listen, upstream): always enabled
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        result: dict[str, Any] = await self.call("Create", "POST", "/proxies", body)
        return result

    async def save(self, proxy: dict[str, Any], created: bool) -> dict[str, Any]:
        # proxy.Save(): create when new (enabled defaults to false in a Go struct), else update
        result: dict[str, Any]
        if created:
            result = await self.call("Save", "POST", f"/proxies/{proxy['name']}", proxy)
        else:
            result = await self.call("Create", "POST", "/proxies", {"enabled": False, **proxy})
        return result

    async def delete(self, name: str) -> None:  # proxy.Delete()
        await self.call("Delete", "DELETE", f"/proxies/{name}")

    async def populate(self, proxies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # client.Populate(): since Toxiproxy 2.6 the client does not read the body of an error
        result: dict[str, list[dict[str, Any]]] = await self.call(
            "Populate", "POST", "/populate", proxies
        )
        return result["proxies"]

    async def toxics(self, proxy: str) -> list[dict[str, Any]]:  # proxy.Toxics()
        result: list[dict[str, Any]] = await self.call("Toxics", "GET", f"/proxies/{proxy}/toxics")
        return result

    async def add_toxic(
        self,
        proxy: str,
        name: str,
        type: str,
        stream: str,
        toxicity: float,
        attributes: dict[str, Any] | None,
    ) -> dict[str, Any]:
        # proxy.AddToxic(name, type, stream, toxicity, attrs): toxicity -1 means the default 1
        body = {
            "name": name,
            "type": type,
            "stream": stream,
            "toxicity": 1.0 if toxicity == -1 else toxicity,
            "attributes": attributes,
        }
        path = f"/proxies/{proxy}/toxics"
        result: dict[str, Any] = await self.call("AddToxic", "POST", path, body)
        return result

    async def update_toxic(
        self, proxy: str, name: str, toxicity: float, attributes: dict[str, Any]
    ) -> dict[str, Any]:
        # proxy.UpdateToxic(name, toxicity, attrs): toxicity -1 leaves it unchanged
        body: dict[str, Any] = {"attributes": attributes}
        if toxicity != -1:
            body["toxicity"] = toxicity
        path = f"/proxies/{proxy}/toxics/{name}"
        result: dict[str, Any] = await self.call("UpdateToxic", "POST", path, body)
        return result

    async def remove_toxic(self, proxy: str, name: str) -> None:  # proxy.RemoveToxic(name)
        await self.call("RemoveToxic", "DELETE", f"/proxies/{proxy}/toxics/{name}")

    async def reset_state(self) -> None:  # client.ResetState()
        await self.call("ResetState", "POST", "/reset")


def find_toxic(
    toxics: list[dict[str, Any]],
    name: str,
    type: str,
    stream: str,
    exists: bool,
    toxicity: float | None = None,
    attributes: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """api_test.go's AssertToxicExists, and its "read back correctly" checks when given."""
    found = next((toxic for toxic in toxics if toxic["name"] == name), None)
    if exists:
        assert found is not None, f"expected toxic {name}"
        assert found["type"] == type and found["stream"] == stream, found
        assert toxicity is None or found["toxicity"] == toxicity, found
        assert attributes is None or found["attributes"] == attributes, found
    else:
        assert found is None or found["stream"] != stream, f"unexpected toxic {found}"
    return found


async def proxy_up(address: str) -> bool:
    """api_test.go's AssertProxyUp: does a TCP connect to `address` succeed?"""
    host, _, port = address.rpartition(":")
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), DEADLINE)
    except ConnectionRefusedError:
        return False
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return True
