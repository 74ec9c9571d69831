"""Who is calling: an office (by its API key) or the admin; FastAPI dependencies for both."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from central_server.errors import Forbidden, Unauthorised
from central_server.state import CentralState


def get_state(request: Request) -> CentralState:
    state: CentralState = request.app.state.central
    return state


State = Annotated[CentralState, Depends(get_state)]


@dataclass(frozen=True)
class Caller:
    office_code: str | None  # None for the admin
    is_admin: bool


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorised("missing API key: send 'Authorization: Bearer <key>'")
    return token.strip()


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def identify(token: str, state: CentralState) -> Caller:
    """Compare against every key, without stopping early, so timing tells nothing."""
    office: str | None = None
    for code, key in state.settings.offices.items():
        if _same(token, key):
            office = code
    admin_key = state.settings.admin_key
    is_admin = admin_key is not None and _same(token, admin_key)
    if is_admin:
        return Caller(None, True)
    if office is not None:
        return Caller(office, False)
    raise Unauthorised("unknown API key")


async def office_caller(request: Request, state: State) -> str:
    """The calling office's code; injected faults apply to office traffic only."""
    caller = identify(_bearer(request), state)
    if caller.office_code is None:
        raise Forbidden("this route is for offices; the admin key has no office", "office_only")
    await state.faults.before_office_request()
    return caller.office_code


async def admin_caller(request: Request, state: State) -> None:
    caller = identify(_bearer(request), state)
    if not caller.is_admin:
        raise Forbidden("this route needs the admin key")


Office = Annotated[str, Depends(office_caller)]
Admin = Annotated[None, Depends(admin_caller)]
