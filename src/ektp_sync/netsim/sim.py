"""NetSim: many named proxies plus the control API, started and stopped in one asyncio loop."""

from __future__ import annotations

import random
from types import TracebackType
from typing import Any

from ektp_sync.netsim.api import make_handler
from ektp_sync.netsim.httpserver import HttpServer
from ektp_sync.netsim.metrics import ProxyMetrics
from ektp_sync.netsim.model import (
    ApiError,
    PopulateError,
    ProxySpec,
    ToxicSpec,
    bad_body,
    proxy_not_found,
    split_address,
)
from ektp_sync.netsim.profiles import is_profile_toxic, profile_toxics
from ektp_sync.netsim.proxy import Proxy
from ektp_sync.netsim.toxics import Toxic

DEFAULT_API = "127.0.0.1:8474"


class NetSim:
    """The simulator. `api=None` runs proxies only (no HTTP control API).

    Everything random (toxicity draws, jitter, loss, slicer sizes, outage schedules) comes from
    random.Random instances seeded from `seed` plus proxy, connection and toxic names, so one
    seed replays the same behaviour. Without a seed one is drawn and kept in `self.seed`.
    """

    def __init__(self, api: str | None = DEFAULT_API, seed: int | None = None) -> None:
        self.seed: int = seed if seed is not None else random.SystemRandom().randrange(2**32)
        self.proxies: dict[str, Proxy] = {}
        self.metrics = ProxyMetrics()
        self._api_address = api
        self._http: HttpServer | None = None

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        if self._api_address is not None and self._http is None:
            host, port = split_address(self._api_address)
            self._http = HttpServer(make_handler(self))
            await self._http.start(host, port)

    async def stop(self) -> None:
        """Close the API and every proxy and connection; nothing is left running."""
        http, self._http = self._http, None
        if http is not None:
            await http.stop()
        for proxy in list(self.proxies.values()):
            await proxy.stop()

    async def __aenter__(self) -> NetSim:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        """Base URL of the control API, e.g. http://127.0.0.1:8474 (after start)."""
        if self._http is None:
            raise RuntimeError("the control API is not running")
        host, port = self._http.address
        return f"http://{host}:{port}"

    # --- proxies -------------------------------------------------------------------------
    async def add_proxy(self, name: str, listen: str, upstream: str, enabled: bool = True) -> Proxy:
        """Create and (if enabled) start a proxy; listen '127.0.0.1:0' picks a free port."""
        return await self.create_proxy(
            {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        )

    async def create_proxy(self, body: Any) -> Proxy:
        spec = ProxySpec.from_json(body)
        if spec.name in self.proxies:
            raise ApiError("proxy already exists", 409)
        proxy = Proxy(spec, str(self.seed), self.metrics)
        if proxy.enabled:
            await proxy.start()
        self.proxies[spec.name] = proxy
        return proxy

    def get_proxy(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise proxy_not_found()
        return proxy

    async def remove_proxy(self, name: str) -> None:
        proxy = self.get_proxy(name)
        del self.proxies[name]
        await proxy.stop()

    async def set_enabled(self, name: str, enabled: bool) -> None:
        """The `down` switch: False closes live connections and refuses new ones."""
        await self.get_proxy(name).set_enabled(enabled)

    async def populate(self, body: Any) -> list[Proxy]:
        """Create or replace proxies (Toxiproxy's /populate); an identical one is kept as is.

        As Toxiproxy: every entry is checked for its required fields first (nothing is made if
        one lacks them), then proxies are made in order; one that fails (a busy port) stops the
        run with a PopulateError that carries the proxies made before it.
        """
        result: list[Proxy] = []
        try:
            if not isinstance(body, list):
                raise bad_body("expected a JSON list of proxies")
            specs = [ProxySpec.from_json(item, at) for at, item in enumerate(body, 1)]
            for spec in specs:
                result.append(await self._populate_one(spec))
        except ApiError as error:
            raise PopulateError(error, [proxy.as_json() for proxy in result]) from error
        return result

    async def _populate_one(self, spec: ProxySpec) -> Proxy:
        old = self.proxies.get(spec.name)
        if old is not None and _same_endpoints(old, spec):
            return old
        if old is not None:
            await self.remove_proxy(spec.name)
        return await self.create_proxy(spec.__dict__)

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic (POST /reset)."""
        for proxy in self.proxies.values():
            proxy.reset_toxics()
            await proxy.set_enabled(True)

    # --- toxics --------------------------------------------------------------------------
    def add_toxic(
        self,
        proxy: str,
        type: str,
        stream: str = "downstream",
        name: str | None = None,
        toxicity: float = 1.0,
        attributes: dict[str, Any] | None = None,
    ) -> Toxic:
        body = {"type": type, "stream": stream, "name": name, "toxicity": toxicity}
        spec = ToxicSpec.from_json({**body, "attributes": attributes or {}})
        return self.get_proxy(proxy).add_toxic(spec)

    def update_toxic(
        self,
        proxy: str,
        name: str,
        toxicity: float | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> Toxic:
        body: dict[str, Any] = {"attributes": attributes or {}}
        if toxicity is not None:
            body["toxicity"] = toxicity
        return self.get_proxy(proxy).update_toxic(name, body)

    def remove_toxic(self, proxy: str, name: str) -> None:
        self.get_proxy(proxy).remove_toxic(name)

    def apply_profile(self, proxy: str, profile: str) -> list[str]:
        """Replace the proxy's profile toxics with those of `profile`; returns their names.

        Toxics added by hand (names without a `<profile>.` prefix) are kept.
        """
        target = self.get_proxy(proxy)
        specs = profile_toxics(profile)
        self.clear_profile(proxy)
        for spec in specs:
            target.add_toxic(spec)
        return [spec.name for spec in specs]

    def clear_profile(self, proxy: str) -> None:
        target = self.get_proxy(proxy)
        for name in [name for name in target.toxics if is_profile_toxic(name)]:
            target.remove_toxic(name)


def _same_endpoints(proxy: Proxy, spec: ProxySpec) -> bool:
    """Populate keeps a proxy whose endpoints are unchanged (port 0 matches the bound port)."""
    host, port = split_address(spec.listen)
    old_host, old_port = split_address(proxy.listen)
    same_listen = host == old_host and port in (0, old_port)
    return same_listen and split_address(spec.upstream) == split_address(proxy.upstream)
