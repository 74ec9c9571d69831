"""A minimal HTTP/1.1 server on asyncio streams, so the control API shares the proxies' loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus

MAX_BODY = 1 << 20
MAX_HEADERS = 100
IDLE_TIMEOUT = 60.0


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response]]


class HttpServer:
    """Serves `handler` with keep-alive; bodies by Content-Length or chunked, up to MAX_BODY."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.address: tuple[str, int] = ("", 0)

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, host, port, reuse_address=True)
        bound = self._server.sockets[0].getsockname()
        self.address = (bound[0], bound[1])

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        # Closing the sockets ends each handler's read with EOF, so handlers finish normally
        # (a cancelled handler task is reported as an error by asyncio's stream callback).
        for writer in list(self._writers):
            writer.close()
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=5.0)
            for task in pending:
                task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            pass  # a client that went away or spoke garbage: just drop the connection
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(OSError, TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection should end."""
        line = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT)
        if not line:
            return False
        method, target, version = line.decode("latin-1").split()
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS):
            raw = await reader.readline()
            if raw in (b"\r\n", b"\n", b""):
                break
            key, _, value = raw.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        body = await _read_body(reader, headers)
        if body is None:
            await _send(writer, Response(413, b""), keep=False)
            return False
        response = await self._handler(Request(method, target.split("?")[0], headers, body))
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        await _send(writer, response, keep)
        return keep


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes | None:
    """The request body, or None when it is larger than MAX_BODY."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader)
    length = int(headers.get("content-length", "0"))
    if length > MAX_BODY:
        return None
    return await reader.readexactly(length) if length else b""


async def _read_chunked(reader: asyncio.StreamReader) -> bytes | None:
    """A chunked request body (RFC 9112 §7.1); None when it is larger than MAX_BODY."""
    parts: list[bytes] = []
    total = 0
    while True:
        size = int((await reader.readline()).split(b";")[0].strip(), 16)  # ValueError: garbage
        if size == 0:
            break
        total += size
        if total > MAX_BODY:
            return None
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)  # the CRLF after each chunk
    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
        pass  # trailer fields: none that matter here
    return b"".join(parts)


async def _send(writer: asyncio.StreamWriter, response: Response, keep: bool) -> None:
    reason = HTTPStatus(response.status).phrase
    head = [f"HTTP/1.1 {response.status} {reason}"]
    if response.status != 204:
        head.append(f"Content-Type: {response.content_type}")
        head.append(f"Content-Length: {len(response.body)}")
    head += [f"{key}: {value}" for key, value in response.headers.items()]
    head.append("Connection: keep-alive" if keep else "Connection: close")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
    if response.status != 204:
        writer.write(response.body)
    await writer.drain()
