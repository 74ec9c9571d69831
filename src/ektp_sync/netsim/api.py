"""The control API: Toxiproxy's HTTP routes, JSON shapes and status codes, over a NetSim."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import ektp_sync.netsim.metrics as metrics
from ektp_sync.netsim.httpserver import Request, Response
from ektp_sync.netsim.model import ApiError, PopulateError, ToxicSpec, bad_body
from ektp_sync.netsim.profiles import PROFILES

if TYPE_CHECKING:
    from ektp_sync.netsim.sim import NetSim

VERSION = "2.12.0-ektp"  # the Toxiproxy API generation we follow, marked as ours
Route = Callable[["NetSim", Request, dict[str, str]], Awaitable[Response]]


def _json(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data).encode())


def _error(error: ApiError) -> Response:
    """As Toxiproxy's Go http.Error: the JSON body, a newline, and text/plain (not JSON)."""
    body = (json.dumps(error.as_json()) + "\n").encode()
    return Response(
        error.status, body, "text/plain; charset=utf-8", {"X-Content-Type-Options": "nosniff"}
    )


def _body(request: Request) -> Any:
    try:
        return json.loads(request.body or b"{}")
    except ValueError as exc:
        raise bad_body(str(exc)) from exc


async def proxy_index(sim: NetSim, request: Request, args: dict[str, str]) -> Response:
    return _json({name: proxy.as_json() for name, proxy in sim.proxies.items()})


async def proxy_create(sim: NetSim, request: Request, args: dict[str, str]) -> Response:
    proxy = await sim.create_proxy(_body(request))
    return _json(proxy.as_json(), 201)


async def populate(sim: NetSim, request: Request, args: dict[str, str]) -> Response:
    body = _body(request)
    if isinstance(body, dict) and isinstance(body.get("proxies"), list):
        body = body["proxies"]  # the shape our own response has, accepted back as well
    try:
        proxies = await sim.populate(body)
    except PopulateError as error:
        # Toxiproxy answers a failed populate as JSON with the proxies it did make.
        return _json(error.as_json(), error.status)
    return _json({"proxies": [proxy.as_json() for proxy in proxies]}, 201)


async def proxy_show(sim: NetSim, request: Request, args: dict[str, str]) -> Response:
    return _json(sim.get_proxy(args["proxy"]).as_json())


async def proxy_update(sim: NetSim, request: Request, args: dict[str, str]) -> Response:
    proxy = sim.get_proxy(args["proxy"])
    body = _body(request)
    if not isinstance(body, dict):
        raise bad_body("expected a JSON object")
    await proxy.update(body)
    return _json(proxy.as_json())


async def proxy_delete(sim: NetSim, request: Request, args: dict[str, str]) -> Response:
    await sim.remove_proxy(args["proxy"])
    return Response(204)


async def toxic_index(sim: NetSim, request: Request, args: dict[str, str]) -> Response:
    proxy = sim.get_proxy(args["proxy"])
    return _json([toxic.spec.as_json() for toxic in proxy.toxics.values()])


async def toxic_create(sim: NetSim, request: Request, args: dict[str, str]) -> Response:
    proxy = sim.get_proxy(args["proxy"])
    toxic = proxy.add_toxic(ToxicSpec.from_json(_body(request)))
    return _json(toxic.spec.as_json())


async def toxic_show(sim: NetSim, request: Request, args: dict[str, str]) -> Response:
    toxic = sim.get_proxy(args["proxy"]).toxics.get(args["toxic"])
    if toxic is None:
        raise ApiError("toxic not found", 404)
    return _json(toxic.spec.as_json())


async def toxic_update(sim: NetSim, request: Request, args: dict[str, str]) -> Response:
    toxic = sim.get_proxy(args["proxy"]).update_toxic(args["toxic"], _body(request))
    return _json(toxic.spec.as_json())


async def toxic_delete(sim: NetSim, request: Request, args: dict[str, str]) -> Response:
    sim.get_proxy(args["proxy"]).remove_toxic(args["toxic"])
    return Response(204)


async def reset(sim: NetSim, request: Request, args: dict[str, str]) -> Response:
    await sim.reset()
    return Response(204)


async def version(sim: NetSim, request: Request, args: dict[str, str]) -> Response:
    body = (json.dumps({"version": VERSION}) + "\n").encode()
    return Response(200, body, "application/json;charset=utf-8")


async def metrics_text(sim: NetSim, request: Request, args: dict[str, str]) -> Response:
    return Response(200, sim.metrics.render(), metrics.CONTENT_TYPE)


# Extensions (not in Toxiproxy): named link profiles.
async def profile_index(sim: NetSim, request: Request, args: dict[str, str]) -> Response:
    return _json(PROFILES)


async def profile_apply(sim: NetSim, request: Request, args: dict[str, str]) -> Response:
    body = _body(request)
    name = body.get("profile") if isinstance(body, dict) else None
    if not isinstance(name, str) or name not in PROFILES:
        raise ApiError(f"unknown profile; known: {', '.join(PROFILES)}", 400)
    sim.apply_profile(args["proxy"], name)
    return _json(sim.get_proxy(args["proxy"]).as_json())


async def profile_clear(sim: NetSim, request: Request, args: dict[str, str]) -> Response:
    sim.clear_profile(args["proxy"])
    return Response(204)


_NAME = r"(?P<{}>[^/]+)"
_TABLE: list[tuple[str, dict[str, Route]]] = [
    (r"^/reset$", {"POST": reset}),
    (r"^/proxies$", {"GET": proxy_index, "POST": proxy_create}),
    (r"^/populate$", {"POST": populate}),
    (
        r"^/proxies/{proxy}$",
        {
            "GET": proxy_show,
            "POST": proxy_update,
            "PATCH": proxy_update,
            "DELETE": proxy_delete,
        },
    ),
    (r"^/proxies/{proxy}/toxics$", {"GET": toxic_index, "POST": toxic_create}),
    (
        r"^/proxies/{proxy}/toxics/{toxic}$",
        {
            "GET": toxic_show,
            "POST": toxic_update,
            "PATCH": toxic_update,
            "DELETE": toxic_delete,
        },
    ),
    (r"^/version$", {"GET": version}),
    (r"^/metrics$", {"GET": metrics_text}),
    (r"^/profiles$", {"GET": profile_index}),
    (r"^/proxies/{proxy}/profile$", {"POST": profile_apply, "DELETE": profile_clear}),
]
ROUTES = [
    (re.compile(p.format(proxy=_NAME.format("proxy"), toxic=_NAME.format("toxic"))), m)
    for p, m in _TABLE
]


def make_handler(sim: NetSim) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        response = await _route(sim, request)
        # Every Toxiproxy answer carries a request id (its logs name requests by it).
        response.headers["X-Toxiproxy-Request-Id"] = secrets.token_hex(10)
        return response

    return handle


async def _route(sim: NetSim, request: Request) -> Response:
    # Toxiproxy refuses browsers so a web page cannot drive the API (CSRF).
    if request.headers.get("user-agent", "").startswith("Mozilla/"):
        return Response(403, b"User agent not allowed\n", "text/plain; charset=utf-8")
    for pattern, methods in ROUTES:
        match = pattern.match(request.path)
        if match is None:
            continue
        route = methods.get(request.method)
        if route is None:
            return Response(405, b"", "text/plain; charset=utf-8")
        args = {key: unquote(value) for key, value in match.groupdict().items()}
        try:
            return await route(sim, request, args)
        except ApiError as error:
            return _error(error)
    return Response(404, b"404 page not found\n", "text/plain; charset=utf-8")
