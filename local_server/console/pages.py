"""The console's pages (GET): Ringkasan, Cari penduduk, a resident's record, Perlu tindakan,
Jaringan; and the language switch."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ektp_sync.config import Language
from ektp_sync.domain.states import RecordState
from ektp_sync.storage import utcnow
from local_server.console import views
from local_server.console.access import Desk, local_path, signed_in
from local_server.console.chart import throughput_chart
from local_server.console.render import LANG_COOKIE, formats_of, page, translator
from local_server.errors import RecordNotFound
from local_server.service import RecordService
from local_server.store.search import Resident, ResidentSearch

router = APIRouter(include_in_schema=False)
S = RecordState
SignedIn = Annotated[Desk, Depends(signed_in)]

#: rows of each list on "Perlu tindakan" (the counts above them are whole)
LISTED = 25
#: the overview reloads itself this often (a meta refresh: no script)
REFRESH_SECONDS = 15
#: the chart's spans: name → (span, bars)
SPANS = {"1h": (dt.timedelta(hours=1), 60), "24h": (dt.timedelta(hours=24), 96)}
_NIK = re.compile(r"^[0-9]{16}$")


def _service(request: Request) -> RecordService:
    service: RecordService = request.app.state.service
    return service


def _search(request: Request) -> ResidentSearch:
    search: ResidentSearch = request.app.state.search
    return search


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request, desk: SignedIn) -> Response:
    status = await _service(request).status()
    t = translator(request)
    return page(
        request,
        "overview.html",
        desk=desk,
        status=status,
        refresh=REFRESH_SECONDS,
        states=list(RecordState),
        backlog_eta=views.backlog_eta(status, t, formats_of(request)),
        link_state=views.link_state(status, t, formats_of(request)),
    )


@router.get("/cari", response_class=HTMLResponse)
async def find(
    request: Request, desk: SignedIn, q: Annotated[str, Query(max_length=100)] = ""
) -> Response:
    query = q.strip()
    found: list[Resident] = []
    short = False
    if _NIK.match(query):
        page_ = await _service(request).list_records(None, LISTED, None, query)
        residents = await _search(request).residents([r.id for r in page_.records])
        found = [residents[r.id] for r in reversed(page_.records) if r.id in residents]
    elif len(query) >= 3:
        found = await _search(request).by_name(query, LISTED)
    elif query:
        short = True
    if len(found) == 1:  # one person: straight to their record
        return RedirectResponse(f"/penduduk/{found[0].record_id}", status_code=303)
    return page(request, "search.html", desk=desk, q=query, found=found, short=short)


#: the notice of each action done, by the `selesai` query of the page it leads to
DONE = {"cetak": "act.printed", "ulang": "act.retried", "koreksi": "act.corrected"}


@router.get("/penduduk/{record_id}", response_class=HTMLResponse)
async def resident(
    request: Request,
    desk: SignedIn,
    record_id: str,
    selesai: Annotated[str | None, Query(pattern="^(cetak|ulang|koreksi)$")] = None,
) -> Response:
    return await record_page(request, desk, record_id, done=selesai)


async def record_page(
    request: Request,
    desk: Desk,
    record_id: str,
    notice: str | None = None,
    tone: str = "",
    status_code: int = 200,
    done: str | None = None,
) -> Response:
    """A resident's record: timeline, place in the queue, estimate, actions; with the `notice`
    of an action refused, or of the action `done`."""
    service = _service(request)
    try:
        record = await service.detail(record_id)
    except RecordNotFound:
        return page(request, "missing.html", status_code=404, desk=desk)
    f = formats_of(request)
    t = translator(request)
    if done is not None:
        authorisation = record.decision.authorisation if record.decision else None
        notice = t(DONE[done], no=authorisation.approval_no if authorisation else "–")
        tone = "good"
    residents = await _search(request).residents([record_id])
    status = await service.status()
    return page(
        request,
        "record.html",
        status_code=status_code,
        desk=desk,
        record=record,
        person=residents.get(record_id),
        events=views.timeline(record, t, f),
        estimate=views.estimate(record, t, f),
        queued=status.pending,
        fields=views.CORRECTABLE,
        notice=notice,
        tone=tone,
        here=f"/penduduk/{record_id}",
    )


@router.get("/tindakan", response_class=HTMLResponse)
async def needs_action(request: Request, desk: SignedIn) -> Response:
    service = _service(request)
    status = await service.status()
    lists = {}
    for state in (S.REVIEW, S.REJECTED, S.FAILED, S.APPROVED):
        lists[state.value] = (await service.list_records(state, LISTED, None)).records
    ids = [r.id for records in lists.values() for r in records]
    return page(
        request,
        "action.html",
        desk=desk,
        needs=status.needs_action,
        lists=lists,
        people=await _search(request).residents(ids),
        fields=views.CORRECTABLE,
        waited=views.waited,
    )


@router.get("/jaringan", response_class=HTMLResponse)
async def link(
    request: Request, desk: SignedIn, span: Annotated[str, Query(pattern="^(1h|24h)$")] = "1h"
) -> Response:
    status = await _service(request).status()
    f = formats_of(request)
    width, bars = SPANS[span]
    now = utcnow()
    rates = _service(request).throughput(now, width, bars)
    return page(
        request,
        "link.html",
        desk=desk,
        status=status,
        week=views.week_of(status, f),
        chart=throughput_chart(rates, now, width, f),
        span=span,
        bar=f.duration(width.total_seconds() / bars),
        link_state=views.link_state(status, translator(request), f),
    )


@router.get("/bahasa/{language}")
async def choose_language(language: Language, next: str = "/") -> Response:
    """Remember the operator's language (a preference, not a secret) and go back."""
    response = RedirectResponse(local_path(next), status_code=303)
    response.set_cookie(
        LANG_COOKIE, language.value, max_age=365 * 86400, samesite="strict", httponly=True
    )
    return response
