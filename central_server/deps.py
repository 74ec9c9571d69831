"""FastAPI dependencies of the centre's routes: who is calling, injected faults, and one
dependency per part of the running centre (its parts live on `app.state.centre`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from central_server.auth import ApiKeys
from central_server.dedup.engine import DedupEngine
from central_server.errors import AdminOnly, MissingApiKey, OfficeOnly
from central_server.faults import FaultInjector
from central_server.feed import Feed
from central_server.intake import Intake
from central_server.metrics import CentreMetrics
from central_server.packets import Packets
from central_server.parts import CentreParts
from central_server.views import Views
from ektp_sync.body import BodyLimits
from ektp_sync.signing import Signer


def _parts(request: Request) -> CentreParts:
    parts: CentreParts = request.app.state.centre
    return parts


def _part(name: str) -> Callable[[Request], Any]:
    """A dependency that returns one part of the running centre (`CentreParts.<name>`)."""
    if name not in CentreParts.__dataclass_fields__:  # a typo fails at import, not per request
        raise AttributeError(f"CentreParts has no part {name!r}")

    def part(request: Request) -> Any:
        return getattr(_parts(request), name)

    return part


Keys = Annotated[ApiKeys, Depends(_part("keys"))]
IntakePart = Annotated[Intake, Depends(_part("intake"))]
FeedPart = Annotated[Feed, Depends(_part("feed"))]
ViewsPart = Annotated[Views, Depends(_part("views"))]
DedupPart = Annotated[DedupEngine, Depends(_part("dedup"))]
FaultsPart = Annotated[FaultInjector, Depends(_part("faults"))]
SignerPart = Annotated[Signer, Depends(_part("signer"))]
BodyLimitsPart = Annotated[BodyLimits, Depends(_part("body_limits"))]
MetricsPart = Annotated[CentreMetrics, Depends(_part("metrics"))]
PacketsPart = Annotated[Packets, Depends(_part("packets"))]


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingApiKey()
    return token.strip()


async def office_caller(request: Request, keys: Keys) -> str:
    """The calling office's code; authentication only."""
    caller = keys.identify(_bearer(request))
    if caller.office_code is None:
        raise OfficeOnly()
    return caller.office_code


async def admin_caller(request: Request, keys: Keys) -> None:
    if not keys.identify(_bearer(request)).is_admin:
        raise AdminOnly()


Office = Annotated[str, Depends(office_caller)]


async def injected_faults(_office: Office, faults: FaultsPart) -> None:
    """Latency and errors the admin switched on, for office traffic only: it depends on
    `office_caller`, so it runs after a successful authentication (FastAPI runs that once a
    request and hands the routes the same office)."""
    await faults.before_office_request()
