"""What the node checks of every request before its route: the Host it was sent to (DNS
rebinding), and the media type of a JSON body (CSRF by form or text/plain posts).

A page of another site in the operator's browser can send requests to the node in two ways:
rebinding its own name to 127.0.0.1 (the browser then thinks the node is that site; its Host
header still names the site), or a "simple" cross-site POST (a form, or text/plain) that needs
no CORS preflight. The first is refused here, the second by `require_json` on every route that
reads a body (a browser cannot send application/json cross-site without a preflight the node
never grants). The bearer token stops both as well; these make the node safe without relying
on that alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from ektp_sync.http_errors import error_response
from local_server.errors import NotJson

#: names the node always answers to: this machine's
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
#: paths answered whatever the Host (probes; no personal data)
UNGUARDED_PATHS = frozenset({"/healthz", "/api/v1/healthz", "/metrics"})


def host_name(header: str) -> str:
    """The name of a Host header, without port or IPv6 brackets, lower case."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


class HostGuard:
    """ASGI middleware: answer 421 (`{"detail", "rule": "host_not_allowed"}`) to a request
    whose Host is not one of `allowed` (nor a loopback name)."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(name.lower() for name in (*LOOPBACK_NAMES, *allowed))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNGUARDED_PATHS:
            await self.app(scope, receive, send)
            return
        hosts = [v.decode("latin-1") for k, v in scope["headers"] if k == b"host"]
        if len(hosts) == 1 and host_name(hosts[0]) in self.allowed:
            await self.app(scope, receive, send)
            return
        response = error_response(
            421,
            "this node does not answer to that Host; add it with --allowed-host if it is "
            "a name of this machine",
            "host_not_allowed",
        )
        await response(scope, receive, send)


def allowed_hosts(bind_host: str, extra: Iterable[str]) -> list[str]:
    """The names the node answers to: loopback's, the address it is bound to, and `extra`."""
    names = [*extra]
    if bind_host not in ("0.0.0.0", "::", ""):
        names.append(bind_host)
    return names


def require_json(request: Request) -> None:
    """NotJson (415) unless the body is declared application/json."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise NotJson(
            "the body must be sent as Content-Type: application/json", "content_type_not_json"
        )
