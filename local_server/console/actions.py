"""The console's forms (POST): log in and out, and a supervisor's print, re-send and correct.

An action calls the same service function as the API route (same rules, same audit trail);
its refusal is shown on the record's page with the rule, as the API would answer it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ektp_sync.body import InvalidBody
from local_server.auth import Operator, directory_of
from local_server.console.access import (
    Desk,
    FormRefused,
    acting,
    form_of,
    local_path,
    signed_in,
)
from local_server.console.pages import record_page
from local_server.console.render import page, translator
from local_server.console.session import clear_cookie, same_origin, sessions_of, set_cookie
from local_server.console.views import CORRECTABLE
from local_server.errors import RecordNotFound, RecordRefused
from local_server.service import RecordService

router = APIRouter(include_in_schema=False)
SignedIn = Annotated[Desk, Depends(signed_in)]


def _service(request: Request) -> RecordService:
    service: RecordService = request.app.state.service
    return service


@router.get("/masuk", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/") -> Response:
    return page(request, "login.html", desk=None, next=local_path(next), failed=False)


@router.post("/masuk", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """A known token opens a session; the cookie carries only the session's random id."""
    if not same_origin(request):  # no session yet to hold a CSRF token: the origin must do
        raise FormRefused("act.csrf")
    form = await form_of(request)
    token = form.get("token", "").strip()
    back = local_path(form.get("next"))
    if not token or directory_of(request).find(token) is None:
        return page(request, "login.html", status_code=401, desk=None, next=back, failed=True)
    response = RedirectResponse(back, status_code=303)
    set_cookie(request, response, sessions_of(request).open(token))
    return response


@router.post("/keluar")
async def logout(request: Request, desk: SignedIn) -> Response:
    await acting(request, desk, supervisor=False)
    sessions_of(request).close(request.cookies.get("ektp_console"))
    response = RedirectResponse("/masuk", status_code=303)
    clear_cookie(response)
    return response


@router.post("/penduduk/{record_id}/cetak", response_class=HTMLResponse)
async def print_card(request: Request, desk: SignedIn, record_id: str) -> Response:
    return await _supervised(request, desk, record_id, "cetak", RecordService.print_card)


@router.post("/penduduk/{record_id}/ulang", response_class=HTMLResponse)
async def retry(request: Request, desk: SignedIn, record_id: str) -> Response:
    return await _supervised(request, desk, record_id, "ulang", RecordService.retry)


async def _supervised(
    request: Request,
    desk: Desk,
    record_id: str,
    action: str,
    act: Callable[[RecordService, str, Operator], Awaitable[object]],
) -> Response:
    """A supervisor's action on one record from its page: done, or the page again saying why
    it was refused."""
    await acting(request, desk, supervisor=True)
    try:
        await act(_service(request), record_id, desk.operator)
    except RecordRefused as refusal:
        return await _refused(request, desk, record_id, refusal)
    return _done(record_id, action)


@router.post("/penduduk/{record_id}/koreksi", response_class=HTMLResponse)
async def correct(request: Request, desk: SignedIn, record_id: str) -> Response:
    """The form's fields that differ from the stored record are the correction (PUT's body)."""
    form = await acting(request, desk, supervisor=True)
    residents = await request.app.state.search.residents([record_id])
    stored = residents[record_id].fields if record_id in residents else {}
    changes: dict[str, Any] = {
        name: form[name].strip()
        for name in CORRECTABLE
        if name in form and form[name].strip() != str(stored.get(name) or "")
    }
    try:
        await _service(request).correct(record_id, changes, desk.operator)
    except InvalidBody as invalid:
        rules = "; ".join(f"{e.get('type')}: {e.get('msg')}" for e in invalid.errors)
        t = translator(request)
        notice = t("act.refused", detail=rules, rule="invalid")
        return await record_page(request, desk, record_id, notice, "bad", status_code=422)
    except RecordRefused as refusal:
        return await _refused(request, desk, record_id, refusal)
    return _done(record_id, "koreksi")


def _done(record_id: str, action: str) -> Response:
    """After an action, the record's page (a reload shows it again, it does not act again)."""
    return RedirectResponse(f"/penduduk/{record_id}?selesai={action}", status_code=303)


async def _refused(
    request: Request, desk: Desk, record_id: str, refusal: RecordRefused
) -> Response:
    if isinstance(refusal, RecordNotFound):
        return page(request, "missing.html", status_code=404, desk=desk)
    notice = translator(request)("act.refused", detail=refusal.detail, rule=refusal.rule)
    return await record_page(request, desk, record_id, notice, "bad", status_code=409)
