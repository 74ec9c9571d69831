"""Proxy and toxic descriptions as the control API sees them: validation, defaults, JSON shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Attr = float | int | str

#: Known toxic types with their attributes and defaults (Toxiproxy's names for the first seven).
TOXIC_ATTRIBUTES: dict[str, dict[str, Attr]] = {
    "latency": {"latency": 0, "jitter": 0},
    "bandwidth": {"rate": 0},
    "slow_close": {"delay": 0},
    "timeout": {"timeout": 0},
    "reset_peer": {"timeout": 0},
    "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},
    "limit_data": {"bytes": 0},
    "noop": {},  # passes everything; Toxiproxy's own tests use it to exercise the toxic chain
    # Beyond Toxiproxy: what a field link needs.
    "link_bandwidth": {"rate": 0},
    "outage": {"period": 0, "duration": 0, "jitter": 0, "start": 0, "mode": "reset"},
    "loss": {
        "p": 0.0,
        "r": 1.0,
        "loss_good": 0.0,
        "loss_bad": 1.0,
        "rto": 200,
        "reset": 0.0,
        "packet_size": 1460,
    },
}
STREAMS = ("upstream", "downstream")
OUTAGE_MODES = ("reset", "stall")


class ApiError(Exception):
    """An error with the HTTP status Toxiproxy would answer, e.g. 404 'proxy not found'."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def as_json(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


class PopulateError(ApiError):
    """A /populate that failed part-way: Toxiproxy answers the error *and* the proxies it made."""

    def __init__(self, error: ApiError, made: list[dict[str, Any]]) -> None:
        super().__init__(error.message, error.status)
        self.made = made

    def as_json(self) -> dict[str, Any]:
        return {**super().as_json(), "proxies": self.made}


def bad_body(detail: str) -> ApiError:
    return ApiError(f"bad request body: {detail}", 400)


def proxy_not_found() -> ApiError:
    return ApiError("proxy not found", 404)


def toxic_not_found() -> ApiError:
    return ApiError("toxic not found", 404)


@dataclass
class ToxicSpec:
    """One toxic as stored and shown: {"name","type","stream","toxicity","attributes"}."""

    name: str
    type: str
    stream: str = "downstream"
    toxicity: float = 1.0
    attributes: dict[str, Attr] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
        }

    @classmethod
    def from_json(cls, body: Any) -> ToxicSpec:
        """Parse a toxic-create body with Toxiproxy's defaults (stream downstream, toxicity 1)."""
        if not isinstance(body, dict):
            raise bad_body("expected a JSON object")
        kind = body.get("type")
        if kind not in TOXIC_ATTRIBUTES:
            raise ApiError("invalid toxic type", 400)
        stream = body.get("stream") or "downstream"
        # Toxiproxy lower-cases the stream name before checking it ("UPSTREAM" is upstream).
        if not isinstance(stream, str) or stream.lower() not in STREAMS:
            raise ApiError("stream was invalid, can be either upstream or downstream", 400)
        stream = stream.lower()
        name = body.get("name") or f"{kind}_{stream}"
        if not isinstance(name, str):
            raise bad_body("name must be a string")
        spec = cls(name=name, type=kind, stream=stream)
        spec.toxicity = _toxicity(body.get("toxicity", 1.0))
        spec.attributes = dict(TOXIC_ATTRIBUTES[kind])
        spec.update_attributes(body.get("attributes") or {})
        return spec

    def update(self, body: Any) -> None:
        """Apply a toxic-update body: only the fields given change (as Toxiproxy's PATCH)."""
        if not isinstance(body, dict):
            raise bad_body("expected a JSON object")
        if "toxicity" in body:
            self.toxicity = _toxicity(body["toxicity"])
        self.update_attributes(body.get("attributes") or {})

    def update_attributes(self, given: Any) -> None:
        if not isinstance(given, dict):
            raise bad_body("attributes must be an object")
        defaults = TOXIC_ATTRIBUTES[self.type]
        # Unknown keys are ignored, as Go's JSON decoder does for Toxiproxy.
        for key, value in given.items():
            if key not in defaults:
                continue
            self.attributes[key] = _attribute(key, defaults[key], value)

    def number(self, key: str) -> float:
        value = self.attributes[key]
        return float(value) if not isinstance(value, str) else 0.0


def _toxicity(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_body("toxicity must be a number")
    if not 0.0 <= float(value) <= 1.0:
        raise bad_body("toxicity must be between 0 and 1")
    return float(value)


def _attribute(key: str, default: Attr, value: Any) -> Attr:
    if isinstance(default, str):
        if key == "mode" and value not in OUTAGE_MODES:
            raise bad_body(f"mode must be one of {', '.join(OUTAGE_MODES)}")
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_body(f"attribute {key} must be a number")
    if value < 0:
        raise bad_body(f"attribute {key} must not be negative")
    if isinstance(default, int) and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass
class ProxySpec:
    """A proxy as given to create/populate: {"name","listen","upstream","enabled"}."""

    name: str
    listen: str
    upstream: str
    enabled: bool = True

    @classmethod
    def from_json(cls, body: Any, position: int | None = None) -> ProxySpec:
        """`position` (1-based) names the entry of a /populate list in errors, as Toxiproxy does."""
        if not isinstance(body, dict):
            raise bad_body("expected a JSON object")
        where = f" at proxy {position}" if position is not None else ""
        for key in ("name", "upstream"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise ApiError(f"missing required field: {key}{where}", 400)
        listen = body.get("listen") or "127.0.0.1:0"
        enabled = body.get("enabled", True)
        if not isinstance(listen, str) or not isinstance(enabled, bool):
            raise bad_body("listen must be a string and enabled a boolean")
        return cls(body["name"], listen, body["upstream"], enabled)


def split_address(address: str) -> tuple[str, int]:
    """'host:port' → (host, port); an empty host means loopback (traffic stays on 127/8)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ApiError(f"invalid address {address!r}, expected host:port", 400)
    host = host.strip("[]") or "127.0.0.1"
    if host == "localhost":
        host = "127.0.0.1"
    return host, int(port)
