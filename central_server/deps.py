"""FastAPI dependencies of the centre's routes: who is calling, injected faults, and one
dependency per part of the running centre (its parts live on `app.state.centre`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from central_server.auth import ApiKeys
from central_server.dedup.engine import DedupEngine
from central_server.errors import AdminOnly, MissingApiKey, OfficeOnly
from central_server.faults import FaultInjector
from central_server.feed import Feed
from central_server.intake import Intake
from central_server.parts import CentreParts
from central_server.views import Views
from ektp_sync.body import BodyLimits
from ektp_sync.signing import Signer


def _parts(request: Request) -> CentreParts:
    parts: CentreParts = request.app.state.centre
    return parts


def _keys(request: Request) -> ApiKeys:
    return _parts(request).keys


def _intake(request: Request) -> Intake:
    return _parts(request).intake


def _feed(request: Request) -> Feed:
    return _parts(request).feed


def _views(request: Request) -> Views:
    return _parts(request).views


def _dedup(request: Request) -> DedupEngine:
    return _parts(request).dedup


def _faults(request: Request) -> FaultInjector:
    return _parts(request).faults


def _signer(request: Request) -> Signer:
    return _parts(request).signer


def _body_limits(request: Request) -> BodyLimits:
    return _parts(request).body_limits


Keys = Annotated[ApiKeys, Depends(_keys)]
IntakePart = Annotated[Intake, Depends(_intake)]
FeedPart = Annotated[Feed, Depends(_feed)]
ViewsPart = Annotated[Views, Depends(_views)]
DedupPart = Annotated[DedupEngine, Depends(_dedup)]
FaultsPart = Annotated[FaultInjector, Depends(_faults)]
SignerPart = Annotated[Signer, Depends(_signer)]
BodyLimitsPart = Annotated[BodyLimits, Depends(_body_limits)]


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
