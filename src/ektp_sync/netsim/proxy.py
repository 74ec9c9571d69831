"""A named TCP proxy: its listener, its live connections, its toxics, its `enabled` switch."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
from typing import Any

from ektp_sync.netsim.connection import Connection
from ektp_sync.netsim.metrics import ByteCounts, ProxyMetrics
from ektp_sync.netsim.model import ApiError, ProxySpec, ToxicSpec, split_address, toxic_not_found
from ektp_sync.netsim.toxics import Toxic

STOP_TIMEOUT = 5.0


class Proxy:
    """One proxy as Toxiproxy has it: listen → upstream, toxics, enabled (the `down` switch)."""

    def __init__(self, spec: ProxySpec, seed: str, metrics: ProxyMetrics | None = None) -> None:
        self.metrics = metrics or ProxyMetrics()
        self.name = spec.name
        self.listen = spec.listen
        self.upstream = spec.upstream
        self.enabled = spec.enabled
        self.seed = f"{seed}:{spec.name}"
        self.toxics: dict[str, Toxic] = {}
        self._server: asyncio.Server | None = None
        self._connections: set[Connection] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._serial = 0
        self._accepted = 0

    # --- JSON --------------------------------------------------------------------------
    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [toxic.spec.as_json() for toxic in self.toxics.values()],
        }

    def upstream_address(self) -> tuple[str, int]:
        return split_address(self.upstream)

    def byte_counts(self, direction: str) -> ByteCounts:
        return self.metrics.counts(direction, self.listen, self.name, self.upstream)

    @property
    def connections(self) -> int:
        """Connections open through this proxy now."""
        return len(self._connections)

    # --- listener ------------------------------------------------------------------------
    async def start(self) -> None:
        if self._server is not None:
            return
        host, port = split_address(self.listen)
        split_address(self.upstream)  # refuse a malformed upstream before listening
        try:
            self._server = await asyncio.start_server(self._accept, host, port, reuse_address=True)
        except OSError as exc:
            # Toxiproxy passes Go's net.Listen error on: clients match on this text.
            reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise ApiError(f"listen tcp {host}:{port}: bind: {reason}", 500) from exc
        # Port 0 asks for any free port; show the real one, as Toxiproxy does.
        bound = self._server.sockets[0].getsockname()
        self.listen = f"{bound[0]}:{bound[1]}"

    async def stop(self) -> None:
        """Stop listening and close every connection (Toxiproxy's disable)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for connection in list(self._connections):
            connection.close()
        if self._handlers:
            await asyncio.wait(set(self._handlers), timeout=STOP_TIMEOUT)
        if server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), STOP_TIMEOUT)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._accepted += 1
        connection = Connection(self, self._accepted, reader, writer)
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(connection)
        self._handlers.add(task)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)
            self._handlers.discard(task)

    async def update(self, body: dict[str, Any]) -> None:
        """POST /proxies/{name}: change enabled/listen/upstream; a moved endpoint restarts."""
        listen = body.get("listen", self.listen)
        upstream = body.get("upstream", self.upstream)
        enabled = body.get("enabled", self.enabled)
        if not isinstance(listen, str) or not isinstance(upstream, str):
            raise ApiError("bad request body: listen and upstream must be strings", 400)
        if not isinstance(enabled, bool):
            raise ApiError("bad request body: enabled must be a boolean", 400)
        split_address(upstream)
        # Compared as resolved addresses, as Toxiproxy does: `localhost:P` for a proxy on
        # 127.0.0.1:P is not a move, so live connections survive the update.
        same = await resolve(listen) == await resolve(self.listen)
        moved = not same or upstream != self.upstream
        if moved or not enabled:
            await self.stop()
        if moved:
            self.listen, self.upstream = listen, upstream
        self.enabled = enabled
        if enabled:
            await self.start()

    async def set_enabled(self, enabled: bool) -> None:
        await self.update({"enabled": enabled})

    # --- toxics --------------------------------------------------------------------------
    def add_toxic(self, spec: ToxicSpec) -> Toxic:
        if spec.name in self.toxics:
            raise ApiError("toxic already exists", 409)
        self._serial += 1
        toxic = Toxic(spec, self.seed, self._serial)
        self.toxics[spec.name] = toxic
        self.notify()
        return toxic

    def update_toxic(self, name: str, body: Any) -> Toxic:
        toxic = self.toxics.get(name)
        if toxic is None:
            raise toxic_not_found()
        toxic.spec.update(body)
        toxic.refresh()
        self.notify()
        return toxic

    def remove_toxic(self, name: str) -> None:
        toxic = self.toxics.pop(name, None)
        if toxic is None:
            raise toxic_not_found()
        self._removed([toxic])

    def reset_toxics(self) -> None:
        removed = list(self.toxics.values())
        self.toxics.clear()
        self._removed(removed)

    def _removed(self, toxics: list[Toxic]) -> None:
        for connection in list(self._connections):
            for toxic in toxics:
                connection.toxic_removed(toxic)
        self.notify()

    def notify(self) -> None:
        """Wake every connection waiting on a timer or a stall: the toxics changed."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_changed(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), max(timeout, 0.0))


async def resolve(address: str) -> tuple[str, int]:
    """'host:port' → (IPv4/IPv6 address, port), resolving a host name like Go's ResolveTCPAddr."""
    host, port = split_address(address)
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ApiError(f"lookup {host}: {exc.strerror or exc}", 400) from exc
    # Prefer IPv4, as Go's resolver does for "tcp".
    found.sort(key=lambda item: item[0] != socket.AF_INET)
    return str(found[0][4][0]), port
