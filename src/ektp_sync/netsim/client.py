"""A small async client for the control API (any Toxiproxy server, plus our profile routes)."""

from __future__ import annotations

from typing import Any

import httpx


class NetSimClient:
    """Drive a netsim (or Toxiproxy) over HTTP, e.g. from tests or the demo.

    async with NetSimClient("http://127.0.0.1:8474") as link:
        await link.set_profile("wan", "vsat-rain")
        await link.set_enabled("wan", False)
    """

    def __init__(self, api_url: str, timeout: float = 10.0) -> None:
        self._http = httpx.AsyncClient(base_url=api_url, timeout=timeout)

    async def __aenter__(self) -> NetSimClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self._http.request(method, path, json=body)
        response.raise_for_status()
        return None if response.status_code == 204 else response.json()

    async def proxies(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/proxies")
        return result

    async def proxy(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/proxies/{name}")
        return result

    async def create_proxy(self, name: str, listen: str, upstream: str) -> dict[str, Any]:
        body = {"name": name, "listen": listen, "upstream": upstream}
        result: dict[str, Any] = await self._call("POST", "/proxies", body)
        return result

    async def set_enabled(self, name: str, enabled: bool) -> None:
        """The link down (False) or up (True): disabling closes live connections."""
        await self._call("POST", f"/proxies/{name}", {"enabled": enabled})

    async def set_profile(self, name: str, profile: str | None) -> None:
        """Replace the proxy's profile toxics; None removes them (extension route)."""
        if profile is None:
            await self._call("DELETE", f"/proxies/{name}/profile")
        else:
            await self._call("POST", f"/proxies/{name}/profile", {"profile": profile})

    async def add_toxic(
        self,
        proxy: str,
        type: str,
        stream: str = "downstream",
        name: str | None = None,
        toxicity: float = 1.0,
        attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body = {"type": type, "stream": stream, "toxicity": toxicity, "attributes": attributes}
        if name:
            body["name"] = name
        result: dict[str, Any] = await self._call("POST", f"/proxies/{proxy}/toxics", body)
        return result

    async def update_toxic(self, proxy: str, name: str, attributes: dict[str, Any]) -> None:
        await self._call("POST", f"/proxies/{proxy}/toxics/{name}", {"attributes": attributes})

    async def remove_toxic(self, proxy: str, name: str) -> None:
        await self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    async def reset(self) -> None:
        """Every proxy enabled, every toxic removed."""
        await self._call("POST", "/reset")
